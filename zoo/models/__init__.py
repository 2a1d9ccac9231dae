"""Model families; importing this package registers every family with the zoo."""

from zoo.models import factorized, hyperprior, mean_scale  # noqa: F401
