"""The README's adoption snippets, checked in-process in a second: that the guide has the steps
the slow adoption test runs (``test_from_wheel.py``), that its Python parses, that its schema
answers the project's own field, and the marker convention itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.adoption.readme import (
    MarkerError,
    Snippet,
    install_extras,
    parse,
    point_at_wheel,
    readme_snippets,
)


def _file(snippets: list[Snippet], action: str, path: str) -> Snippet:
    found = [s for s in snippets if (s.action, s.path) == (action, path)]
    assert len(found) == 1, f"the guide needs one '{action} {path}' snippet, has {found}"
    return found[0]


def _commands(snippets: list[Snippet], action: str) -> str:
    return "\n".join(s.text for s in snippets if s.action == action)


def test_the_guide_has_every_step_in_order() -> None:
    snippets = readme_snippets()
    (install,) = (s for s in snippets if s.action == "install")
    assert {"processor", "redis"} <= set(install_extras(install))
    assert "uvicorn[standard]" in install.text, "uvicorn without [standard] has no websockets"
    steps = [
        install,
        next(s for s in snippets if "startproject myproject" in s.text),
        _file(snippets, "append", "myproject/settings.py"),
        _file(snippets, "new", "myproject/schema.py"),
        _file(snippets, "replace", "myproject/urls.py"),
        _file(snippets, "replace", "myproject/asgi.py"),
        next(s for s in snippets if "manage.py migrate" in s.text),
        next(s for s in snippets if "uvicorn myproject.asgi:application" in s.text),
    ]
    lines = [s.line for s in steps]
    assert lines == sorted(lines), f"steps out of order: {[str(s) for s in steps]}"
    shell = _commands(snippets, "shell")
    assert "manage.py asyncimg_expire" in shell
    assert "manage.py asyncimg_deploy" in shell
    background = [s for s in snippets if s.action == "background"]
    assert any("manage.py asyncimg_worker" in s.text for s in background)
    assert all(s.text.strip().count("\n") == 0 for s in background), "one command each"


def test_python_snippets_parse() -> None:
    for snippet in readme_snippets():
        if snippet.path and snippet.path.endswith(".py"):
            compile(snippet.text, str(snippet), "exec")


def test_the_guides_schema_answers_the_projects_own_field() -> None:
    """Run against this checkout's ``asyncimg``: ``hello: str = "world"`` needs a root value,
    which strawberry's views leave ``None`` (``asyncimg.graphql.roots.RootValue``)."""
    schema_snippet = _file(readme_snippets(), "new", "myproject/schema.py")
    namespace: dict[str, Any] = {}
    exec(compile(schema_snippet.text, str(schema_snippet), "exec"), namespace)  # noqa: S102
    result = namespace["schema"].execute_sync("{ hello }")
    assert result.errors is None
    assert result.data == {"hello": "world"}


def test_asgi_snippet_sets_the_settings_module_before_importing_the_schema() -> None:
    text = _file(readme_snippets(), "replace", "myproject/asgi.py").text
    assert text.index("DJANGO_SETTINGS_MODULE") < text.index("from myproject.schema import")
    assert "build_application(schema=schema)" in text


def test_markers() -> None:
    text = (
        "<!-- adoption: new app/a.py -->\n```python\nA = 1\n```\n"
        "prose\n<!-- adoption: shell -->\n```sh\npip install 'django-async-image-upload[redis]'\n"
        "curl http://127.0.0.1:8000/\n```\n"
    )
    first, second = parse(text)
    assert (first.action, first.path, first.language, first.text) == ("new", "app/a.py", "python",
                                                                       "A = 1\n")  # fmt: skip
    assert second.line == 6
    assert "127.0.0.1:9999/" in second.with_port(9999)
    assert install_extras(second) == ["redis"]
    wheel = Path("/tmp/dist/x-0.1-py3-none-any.whl")
    assert f"django-async-image-upload[redis] @ {wheel.as_uri()}'" in point_at_wheel(second, wheel)


@pytest.mark.parametrize(
    "text",
    [
        "<!-- adoption: shell -->\nnot a fence\n",
        "<!-- adoption: shell -->\n```sh\nunclosed\n",
        "<!-- adoption: rm -rf / -->\n```sh\n```\n",
        "<!-- adoption: new /etc/passwd -->\n```\n```\n",
        "<!-- adoption: append ../x.py -->\n```\n```\n",
        "<!-- adoption: shell x.py -->\n```\n```\n",
    ],
)
def test_bad_markers_name_their_line(text: str) -> None:
    with pytest.raises(MarkerError, match=r"README\.md:1"):
        parse(text)
