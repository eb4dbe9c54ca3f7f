"""``seqdiff distill``: fewer denoising steps from a trained model folder.

Two modes: ``progressive`` (SDTT-style: a student learns in one step what its teacher does in two,
round after round) and ``certainty`` (dParallel-style: a student trained on its teacher's own greedy
trajectories, with confident predictions sharpened so threshold decoding commits more per step)."""
