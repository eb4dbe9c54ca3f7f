"""seqdiff code domain: BPE tokenizer with FIM tokens, Python corpus, tree-sitter constrained infilling."""

__all__ = ["CodeInfiller", "CodeTokenizer"]


def __getattr__(name):  # keep `import seqdiff_code` cheap: torch and tree-sitter load on first use
    if name == "CodeInfiller":
        from seqdiff_code.infill import CodeInfiller

        return CodeInfiller
    if name == "CodeTokenizer":
        from seqdiff_code.tokenizer import CodeTokenizer

        return CodeTokenizer
    raise AttributeError(name)
