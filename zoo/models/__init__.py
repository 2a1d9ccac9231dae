"""Model families; importing this package registers every family with the zoo."""

from zoo.models import factorized, hyperprior, mean_scale  # noqa: F401
from zoo.models import channelwise, joint  # noqa: F401  (context models)
