"""Chat templates from a folder's ``tokenizer_config.json`` (or ``chat_template.jinja``), rendered with
jinja2's sandbox: a template can format text but cannot reach Python objects, files or imports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqdiff.io import MAX_CONFIG_BYTES, check_file_size, read_json_object


class ChatTemplateError(ValueError):
    """The folder's chat template is missing, malformed or raised while rendering."""


@dataclass(frozen=True)
class ChatTemplate:
    template: str
    bos_token: str | None = None
    eos_token: str | None = None

    def render(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str):
            raise ChatTemplateError(f"the chat template refused the messages: {message}")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        try:
            return env.from_string(self.template).render(
                messages=messages, add_generation_prompt=add_generation_prompt, bos_token=self.bos_token or "",
                eos_token=self.eos_token or "")
        except TemplateError as err:
            raise ChatTemplateError(f"the folder's chat template failed to render: {err}") from None


def _token_text(value) -> str | None:
    if isinstance(value, dict):  # {"content": "<s>", ...} in older tokenizer_config files
        return value.get("content")
    return value if isinstance(value, str) else None


def load_chat_template(directory: Path) -> ChatTemplate | None:
    """The folder's chat template, or None when it has none."""
    config_path = directory / "tokenizer_config.json"
    try:
        config = read_json_object(config_path) or {}
    except ValueError as err:
        raise ChatTemplateError(str(err)) from None
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: use the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    jinja_file = directory / "chat_template.jinja"
    check_file_size(jinja_file, MAX_CONFIG_BYTES)
    if template is None and jinja_file.is_file():
        template = jinja_file.read_text()
    if template is None:
        return None
    if not isinstance(template, str):
        raise ChatTemplateError(f"{config_path} chat_template is not a string")
    return ChatTemplate(template, _token_text(config.get("bos_token")), _token_text(config.get("eos_token")))
