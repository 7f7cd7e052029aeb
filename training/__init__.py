"""Training pipeline: synthetic data, fine-tuning, calibration, evaluation and export."""
