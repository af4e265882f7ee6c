"""Speech emotion recognition on RAVDESS: CNNs from scratch against transfer learning."""

__version__ = "0.1.0"
