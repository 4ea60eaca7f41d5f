"""Notices to the bureau when a run fails or ends with error-severity findings: a text file in the reports
folder (reports/通知/) and, when SMTP settings are given, an email with the same text."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pandas as pd

from fund_pipeline.report.masking import mask_text
from fund_pipeline.settings import SmtpSettings

NOTICE_FOLDER = "通知"


@dataclass(frozen=True)
class Notice:
    kind: str  # "运行失败" or "错误级问题"
    run_id: str
    subject: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        body = "\n".join(self.lines)
        # Error messages may quote a cell: identifiers never leave the pipeline whole.
        return str(mask_text(pd.Series([f"{self.subject}\n\n{body}\n"])).iloc[0])


def write_notice(reports_dir: Path, notice: Notice, when: dt.datetime | None = None) -> Path:
    folder = reports_dir / NOTICE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (when or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{notice.kind}-{notice.run_id[:8]}.txt"
    path.write_text(notice.text, encoding="utf-8")
    return path


def send_notice(smtp: SmtpSettings, notice: Notice, timeout: float = 30) -> None:
    message = EmailMessage()
    message["Subject"] = notice.subject
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message.set_content(notice.text)
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if smtp.user:
            client.login(smtp.user, smtp.password)
        client.send_message(message)


def deliver(reports_dir: Path, smtp: SmtpSettings | None, notice: Notice) -> tuple[Path, str | None]:
    """Write the notice, then email it; a mail server that is down costs the email, never the notice
    (the returned error says why, and is appended to the notice file)."""
    path = write_notice(reports_dir, notice)
    if smtp is None:
        return path, None
    try:
        send_notice(smtp, notice)
    except (OSError, smtplib.SMTPException) as error:
        problem = f"邮件未能发出({smtp.host}:{smtp.port}):{error}"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\n{problem}\n")
        return path, problem
    return path, None
