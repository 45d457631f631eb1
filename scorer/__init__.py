"""provscore: which locked npm package versions are malicious, or were published in a risky way."""

__version__ = "0.1.0"
