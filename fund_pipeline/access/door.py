"""The UI's door: the webserver listens on this machine only, unless a proxy that authenticates sits in front.

Dagster's webserver has no login of its own: whoever reaches its port can launch and terminate runs.
So `serve` binds 127.0.0.1 by default and refuses any other address unless told it is behind a
reverse proxy (nginx with TLS and basic auth, docs/operations.md).
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import sys

LOCAL_NAMES = {"localhost", "ip6-localhost"}


def is_local(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, behind_proxy: bool) -> str | None:
    """Why serving on `host` is refused, in Chinese, or None when it is allowed."""
    if is_local(host) or behind_proxy:
        return None
    return (f"拒绝在 {host} 上提供服务:Dagster 界面本身没有登录验证,任何能访问该端口的人都能启动或终止运行。"
            "请保持默认的 127.0.0.1,并在前面配置带 TLS 和身份验证的反向代理(见 docs/operations.md);"
            "确已如此配置时,加 --behind-proxy。")


def guarded(serve):
    """Wrap the serve command so an exposed address is refused before anything starts."""
    @functools.wraps(serve)
    def _serve(args) -> int:
        problem = exposure_problem(args.host, getattr(args, "behind_proxy", False))
        if problem:
            print(problem, file=sys.stderr)
            return 2
        return serve(args)
    return _serve


def url_without_password(url: str) -> str:
    """argparse type for --warehouse: a password on the command line is visible to every user (ps, shell history)."""
    from sqlalchemy.engine import make_url

    if url.startswith("postgres") and make_url(url).password:
        raise argparse.ArgumentTypeError(
            "命令行上的数据库地址不可带密码(其他用户可从进程列表和命令历史看到)。"
            "请去掉密码,改用环境变量 FUND_PIPELINE_WAREHOUSE_PASSWORD、文件 FUND_PIPELINE_WAREHOUSE_PASSWORD_FILE 或 PGPASSFILE。")
    return url
