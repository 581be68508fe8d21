"""One real Apache Kafka 4 node (KRaft broker and controller in one) on 127.0.0.1, no container."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from vocation_shared.contracts.topics import TopicSpec, all_topics
from vocation_shared.kafka.admin import create_topics

from vocation_local.aio import run_sync
from vocation_local.kafka_admin import TopicDescription, describe_topics, probe
from vocation_local.kafka_dist import fetch_kafka
from vocation_local.paths import LOCALHOST, port_accepts, port_free
from vocation_local.procs import (
    cmdline,
    is_alive,
    read_pid,
    signal_group,
    tail,
    wait_until,
    write_pid,
)

__all__ = ["KafkaBroker", "KafkaStartError", "TopicDescription", "create_topics", "describe_topics"]

log = logging.getLogger(__name__)

DEFAULT_JVM_OPTIONS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)

LOG4J2_PROPERTIES = """\
status = warn
# Keep logging while Kafka shuts down (log4j2 would otherwise stop first).
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
"""


LOG_ROTATE_BYTES = 50 * 1024 * 1024


# JVMs started by this process, by pid: whichever KafkaBroker object stops one reaps it.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class KafkaStartError(RuntimeError):
    """The broker did not come up; the message holds the tail of its log."""


def random_cluster_id() -> str:
    """A Kafka cluster id: a random UUID as 22 chars of base64url, not starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaBroker:
    """A combined broker+controller KRaft node; data, config, log and pid file are in `data_dir`.

    The JVM runs detached (own session and process group), so it outlives this Python process until
    `stop()`/`kill()`, which also work from a fresh process given the same `data_dir`.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 9092,
        controller_port: int = 9093,
        *,
        jvm_options: tuple[str, ...] = DEFAULT_JVM_OPTIONS,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.controller_port = controller_port
        self.jvm_options = jvm_options

    @property
    def bootstrap(self) -> str:
        """The bootstrap server clients use: `127.0.0.1:<port>`."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def config_file(self) -> Path:
        """The broker's server.properties."""
        return self.data_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        """Where the JVM's stdout/stderr (the broker's log) goes."""
        return self.data_dir / "kafka.log"

    @property
    def pid_file(self) -> Path:
        """The pid file of the running JVM."""
        return self.data_dir / "kafka.pid"

    @property
    def log_dirs(self) -> Path:
        """Kafka's `log.dirs`: topic partitions and the KRaft metadata log."""
        return self.data_dir / "logs"

    def pid(self) -> int | None:
        """The pid of this data dir's running broker, or None."""
        pid = read_pid(self.pid_file)
        child = _CHILDREN.get(pid) if pid is not None else None
        if child is not None and child.poll() is not None:
            del _CHILDREN[child.pid]  # reaped: no zombie left behind
        if pid is None or not is_alive(pid):
            return None
        if child is not None and child.poll() is None:
            # Our own child: right after the fork, and until it execs java, its command line is
            # still this Python process's; checking it then would call a starting broker dead.
            return pid
        args = cmdline(pid)
        if "kafka.Kafka" not in args or str(self.config_file) not in args:
            return None  # a stale pid file whose pid was reused by another process
        return pid

    def is_running(self) -> bool:
        """Whether this data dir's broker process is alive (not necessarily ready)."""
        return self.pid() is not None

    def configured_ports(self) -> tuple[int, int] | None:
        """(client port, controller port) from the existing server.properties, if any."""
        try:
            lines = self.config_file.read_text().splitlines()
        except OSError:
            return None
        pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
        props = dict(pairs)
        ports: dict[str, int] = {}
        for listener in props.get("listeners", "").split(","):
            name, _, address = listener.partition("://")
            if address:
                ports[name] = int(address.rsplit(":", 1)[1])
        if "PLAINTEXT" in ports and "CONTROLLER" in ports:
            return ports["PLAINTEXT"], ports["CONTROLLER"]
        return None

    def server_properties(self) -> str:
        """The content of server.properties for this node."""
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{LOCALHOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOCALHOST}:{self.port},CONTROLLER://{LOCALHOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            "num.partitions": "6",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "auto.create.topics.enable": "false",
            # A broker killed with SIGKILL keeps its registration until its session times out:
            # a short session lets `kill()` then `start()` come back in seconds, not 10+.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "log.cleaner.threads": "1",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "java").is_file():
            return str(Path(java_home) / "bin" / "java")
        java = shutil.which("java")
        if java is None:
            raise KafkaStartError("`java` (17 or later) is not on PATH and JAVA_HOME is not set")
        return java

    def _java_command(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            self._java(),
            *self.jvm_options,
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _format(self, libs: Path) -> None:
        if (self.log_dirs / "meta.properties").is_file():
            return
        # Without meta.properties nothing valid is there (an interrupted format): start afresh.
        shutil.rmtree(self.log_dirs, ignore_errors=True)
        command = self._java_command(
            libs, "kafka.tools.StorageTool", "format", "--standalone",
            "-t", random_cluster_id(), "-c", str(self.config_file),
        )  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise KafkaStartError(f"formatting {self.log_dirs} failed:\n{output}")

    def start(self, timeout: float = 90.0) -> None:
        """Start the node (or adopt the one running from this data dir); wait until ready."""
        if self.is_running():
            ports = self.configured_ports()
            if ports is not None and ports != (self.port, self.controller_port):
                log.warning("adopting the broker running in %s on ports %s", self.data_dir, ports)
                self.port, self.controller_port = ports
            self.wait_ready(timeout)
            return
        for port in (self.port, self.controller_port):
            if not port_free(port):
                raise KafkaStartError(f"port {LOCALHOST}:{port} is already used by another process")
        libs = fetch_kafka()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.server_properties())
        (self.data_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        self._format(libs)
        if self.log_file.exists() and self.log_file.stat().st_size > LOG_ROTATE_BYTES:
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        with self.log_file.open("ab") as out:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            out.write(f"\n==== vocation_local: starting Kafka at {stamp} ====\n".encode())
            out.flush()
            process = subprocess.Popen(
                self._java_command(libs, "kafka.Kafka", str(self.config_file)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        _CHILDREN[process.pid] = process
        write_pid(self.pid_file, process.pid)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until the broker answers metadata requests; fail at once if its process dies."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise KafkaStartError(f"Kafka exited; end of {self.log_file}:\n{tail(self.log_file)}")
            if port_accepts(self.port) and run_sync(probe(self.bootstrap)):
                return
            if time.monotonic() > deadline:
                raise KafkaStartError(
                    f"Kafka not ready in {timeout}s; end of {self.log_file}:\n{tail(self.log_file)}"
                )
            time.sleep(0.2)

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> bool:
        pid = self.pid()
        if pid is None:
            return True
        signal_group(pid, sig)
        process = _CHILDREN.get(pid)
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            del _CHILDREN[pid]
            return True
        return wait_until(lambda: not is_alive(pid), timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop cleanly (SIGTERM to the process group), then SIGKILL after `timeout` seconds."""
        if not self._signal_and_wait(signal.SIGTERM, timeout):
            log.warning("Kafka did not stop within %ss; killing it", timeout)
            self._signal_and_wait(signal.SIGKILL, 10.0)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker (a crash, for fault tests); `start()` again recovers the same data."""
        self._signal_and_wait(signal.SIGKILL, 10.0)
        self.pid_file.unlink(missing_ok=True)

    def restart(self, timeout: float = 90.0) -> None:
        """Stop cleanly and start again on the same data dir."""
        self.stop()
        self.start(timeout)

    def ensure_topics(
        self, specs: Iterable[TopicSpec] | None = None, *, partitions: int | None = None
    ) -> list[str]:
        """Create the registry's topics (or `specs`) here, synchronously; return those created."""
        chosen = all_topics(partitions) if specs is None else specs
        return run_sync(create_topics(self.bootstrap, chosen))
