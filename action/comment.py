"""Post the dalperf digest on the pull request, or update the comment an earlier run posted.

One comment per pull request: the digest carries a hidden marker, and a later run edits the
comment that has it instead of adding another. Runs on the standard library alone (it is
a step of the GitHub Action, beside whatever the project installed).

GitHub sets ``GITHUB_EVENT_PATH`` (the event's JSON, with ``pull_request.number``),
``GITHUB_REPOSITORY`` (``owner/name``) and ``GITHUB_API_URL``; the action passes
``GITHUB_TOKEN``. A failure to comment (a fork's read-only token, say) is a warning on the
run, never a failed gate: the gate is the action's own last step. The token is never printed.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- dalperf-digest -->"
MAX_BODY = 65_000  # GitHub refuses comments over 65,536 characters
PER_PAGE = 100


class CommentError(Exception):
    """Commenting failed; the message is one line, safe to print."""


def _request(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28",
        "Content-Type": "application/json",
        "User-Agent": "dalperf-action",
    })
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        raise CommentError(f"{method} {url} answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise CommentError(f"{method} {url} failed: {exc}") from exc
    return json.loads(text) if text else None


def body_of(digest: str) -> str:
    """The comment's text: the marker, then the digest (cut to GitHub's limit)."""
    text = digest.strip()
    if len(text) > MAX_BODY:
        text = text[:MAX_BODY] + "\n\n… (cut; the full digest is in the job's summary)"
    return f"{MARKER}\n{text}\n"


def pull_request_number(event_path: str) -> int:
    event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    number = (event.get("pull_request") or {}).get("number")
    if not isinstance(number, int):
        raise CommentError("the event has no pull_request.number: not a pull-request run")
    return number


def upsert(api: str, repository: str, number: int, token: str, body: str) -> tuple[str, int]:
    """Edit the comment that carries the marker, or post one; ``("updated"|"posted", id)``."""
    comments = f"{api}/repos/{repository}/issues/{number}/comments"
    page = 1
    while True:
        listed = _request("GET", f"{comments}?per_page={PER_PAGE}&page={page}", token)
        for comment in listed:
            if MARKER in (comment.get("body") or ""):
                edit = f"{api}/repos/{repository}/issues/comments/{comment['id']}"
                _request("PATCH", edit, token, {"body": body})
                return "updated", int(comment["id"])
        if len(listed) < PER_PAGE:
            break
        page += 1
    posted = _request("POST", comments, token, {"body": body})
    return "posted", int(posted["id"])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: comment.py DIGEST.md", file=sys.stderr)
        return 2
    try:
        digest = Path(argv[0]).read_text(encoding="utf-8")
        token = os.environ.get("GITHUB_TOKEN", "")
        if not token:
            raise CommentError("GITHUB_TOKEN is empty")
        number = pull_request_number(os.environ["GITHUB_EVENT_PATH"])
        api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        action, comment_id = upsert(api, os.environ["GITHUB_REPOSITORY"], number, token,
                                    body_of(digest))
    except (CommentError, OSError, KeyError, ValueError) as exc:
        reason = f"{exc} is not set" if isinstance(exc, KeyError) else str(exc)
        print(f"::warning title=dalperf::could not comment on the pull request: {reason}")
        return 0
    print(f"dalperf digest {action} as comment {comment_id} on pull request #{number}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
