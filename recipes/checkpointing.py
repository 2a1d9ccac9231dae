"""How a training run stops: the errors `recipes.train` turns into exit codes, and the
checkpoint-write failure report (with its debugging switch, `FAIL_CHECKPOINT_ENV`)."""

from __future__ import annotations

import errno
import os

import tensorflow as tf


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops without saving."""


class Preempted(RuntimeError):
    """SIGTERM/SIGINT arrived; a checkpoint was saved and the run can be resumed."""


class CheckpointWriteError(Preempted):
    """Writing a checkpoint failed (e.g. a full disk); the run stops, resumable from the last.

    A kind of `Preempted`: the run stops cleanly (exit status 4 from `recipes.train`) and
    the same command resumes it once the cause is fixed.
    """


#: Debugging aid (tests, `recipes.reliability`): make the checkpoint write of this step and
#: every later one fail with "No space left on device" after leaving a partial file behind.
FAIL_CHECKPOINT_ENV = "LIC_ZOO_DEBUG_FAIL_CHECKPOINT_AT_STEP"


def inject_write_failure(directory: str, step: int) -> None:
    at = os.environ.get(FAIL_CHECKPOINT_ENV)
    if at is None or step < int(at):
        return
    # What a full disk leaves: a partial data file under the new checkpoint's name.
    with open(os.path.join(directory, f"ckpt-{step}.data-00000-of-00001"), "wb") as f:
        f.write(b"\0" * 100)
    raise OSError(errno.ENOSPC, f"No space left on device (simulated by {FAIL_CHECKPOINT_ENV})")


def previous_checkpoint_state(directory: str) -> str:
    """One sentence on the checkpoint a resumed run would restore, after reading it back."""
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        return "There is no previous checkpoint: a new run starts from step 0."
    try:
        reader = tf.train.load_checkpoint(latest)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as exc:  # Reported, not raised: the write error is the news.
        return f"The previous checkpoint {latest} could not be read back either ({exc})."
    return f"The previous checkpoint {latest} is intact and will be resumed from."
