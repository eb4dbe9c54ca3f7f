"""``seqdiff tune``: reward fine-tuning of a diffusion LM with group-relative policy gradients (GRPO).

    from seqdiff.tune.config import load_config
    from seqdiff.tune.run import tune
    folder = tune(load_config("configs/tune-protein-charge.yaml"))

The sequence log-probability is estimated mean-field (d1's diffu-GRPO) or with complementary masks
(DiffuCoder's coupled-GRPO); see ``estimators.py``. Nothing heavy is imported here, so the CLI starts fast."""
