"""The sections of the reliability suite (`python -m recipes.reliability`), one module each."""
