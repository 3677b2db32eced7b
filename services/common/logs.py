"""JSON logs, one object a line on stderr: what journald and log shippers read best. Under
journald (``$JOURNAL_STREAM`` names stderr) each line starts with its syslog priority (``<3>``
for an error), which journald takes off and keeps as the entry's priority: ``journalctl -p err``
finds the errors."""
from __future__ import annotations

import json
import logging
import os
import sys
import time

from omp_services.common.settings import redact_secrets

_STD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object a line; a database URL's password never reaches it (redact_secrets runs
    on the whole line, the message, its fields and a traceback alike)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        doc.update({k: v for k, v in vars(record).items() if k not in _STD and not k.startswith("_")})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return redact_secrets(json.dumps(doc, default=str))


#: syslog priorities (sd-daemon(3)) of the logging levels
PRIORITY = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}


class JournalFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{PRIORITY.get(record.levelname, 6)}>" + super().format(record)


def under_journald(stream=None, env=os.environ) -> bool:
    """Whether ``stream`` (stderr) is the journal stream systemd connected (``$JOURNAL_STREAM`` is
    its ``device:inode``; a redirected stderr is not)."""
    want = env.get("JOURNAL_STREAM", "")
    if not want:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return want == f"{st.st_dev}:{st.st_ino}"


def setup(service: str, level: str = "INFO") -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter() if under_journald() else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.Formatter.converter = time.gmtime
    return logging.getLogger(service)
