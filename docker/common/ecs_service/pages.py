"""The tutorial's HTML home page: service name, host name and time."""

from __future__ import annotations

from html import escape

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
</head>
<body>
<h1>{title}</h1>
<p>Host: <code>{hostname}</code></p>
<p>Time: <time datetime="{now}">{now}</time></p>
<ul>
<li><a href="{api_path}">{api_path}</a> (JSON list)</li>
<li><a href="/health">/health</a></li>
</ul>
</body>
</html>
"""


def render_home(title: str, hostname: str, now: str, api_path: str) -> str:
    """The home page; every interpolated value is HTML-escaped."""
    return _TEMPLATE.format(
        title=escape(title),
        hostname=escape(hostname),
        now=escape(now),
        api_path=escape(api_path),
    )
