"""tf.distribute in one place: build a strategy by name, and know who the chief is.

    get_strategy("auto" | "one_device" | "mirrored" | "multi_worker_mirrored" | "tpu")

Multi-worker runs read the cluster from the TF_CONFIG environment variable, as every
TF cluster launcher sets it. Only the chief writes to the real work directory; the
other workers write to a private temporary directory (they must still *call* the
checkpoint saver, because saving mirrored variables involves collectives).
"""

from __future__ import annotations

import json
import os
import tempfile

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


def split_cpu(num_devices: int) -> None:
    """Splits the physical CPU into `num_devices` logical devices.

    Lets `mirrored` run with several replicas on a machine without accelerators (tests,
    debugging). Must be called before TensorFlow initializes its devices.
    """
    if num_devices <= 1:
        return
    # Replicas wait for each other inside all-reduces; with the default inter-op pool
    # (one thread per core) two replicas on a 2-core machine can block each other forever.
    tf.config.threading.set_inter_op_parallelism_threads(max(8, 4 * num_devices))
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    )


def cluster_workers() -> int:
    """Number of tasks TF_CONFIG describes (0 when unset)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def get_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Builds the tf.distribute strategy called `name`.

    Args:
      name: one of STRATEGIES. "auto" picks multi-worker mirrored when TF_CONFIG
        describes several workers, mirrored on several GPUs, else one device.

    Raises:
      ValueError: unknown name, or a TPU that cannot be found.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    # Physical, not logical: listing logical devices initializes the runtime, after which
    # MultiWorkerMirroredStrategy can no longer configure its collectives.
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if cluster_workers() > 1:
            name = "multi_worker_mirrored"
        elif len(gpus) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        # Without GPUs MirroredStrategy would take a single CPU; use every logical CPU so
        # that `split_cpu` gives real replicas.
        devices = [d.name for d in tf.config.list_logical_devices("GPU" if gpus else "CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker_mirrored":
        if cluster_workers() == 0:
            raise ValueError("multi_worker_mirrored needs a cluster in the TF_CONFIG environment variable")
        # RING works everywhere (CPU included); NCCL would be picked on GPUs by AUTO.
        implementation = (
            tf.distribute.experimental.CommunicationImplementation.AUTO
            if gpus
            else tf.distribute.experimental.CommunicationImplementation.RING
        )
        options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError) as exc:
        raise ValueError(f"strategy 'tpu': no TPU found ({exc})") from None
    return tf.distribute.TPUStrategy(resolver)


def task_info(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task type, task id) of this process; (None, 0) outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's outputs (checkpoints, logs, weights)."""
    task_type, task_id = task_info(strategy)
    if task_type is None or task_type == "chief":
        return True
    if task_type != "worker":
        return False
    # Without an explicit chief, worker 0 plays the chief (TF's convention).
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return "chief" not in cluster and task_id == 0


def write_dir(workdir: str, strategy: tf.distribute.Strategy) -> str:
    """The directory this process writes to: `workdir` on the chief, a temp dir elsewhere.

    Non-chief workers get a fresh directory, so two workers never race on one file and
    their checkpoints never replace the chief's.
    """
    if is_chief(strategy):
        return workdir
    task_type, task_id = task_info(strategy)
    return tempfile.mkdtemp(prefix=f"lic_zoo_{task_type}{task_id}_")
