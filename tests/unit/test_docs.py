"""The docs stay true: links resolve, every command they tell users to run is exercised by a test
or CI, and every field of the model form is documented.

* Links: every relative link in README.md, PRIVACY.md and docs/**/*.md points at an existing file,
  and a `#anchor` at an existing heading of that file (GitHub's heading ids).
* Commands: every command in a ```bash / ```sh / ```shell / ```console block of README.md and
  docs/**/*.md is either this project's command, listed in COMMANDS with the test or CI step that
  runs it, or another program of the user's own environment (USERS_OWN), allowed only on the
  pages that explain that environment. Contents of `.env` files go in ```ini blocks.
* Form: every variable of provider/openai_compatible_bridge.yaml has a heading or a table row in
  docs/configuration.md.
* Architecture: every module of oai_bridge/ is named in docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _docs_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


LINKED_FILES = [ROOT / "README.md", ROOT / "PRIVACY.md", ROOT / "CHANGELOG.md", *_docs_pages()]
COMMAND_FILES = [ROOT / "README.md", *_docs_pages()]
SHELL_LANGS = {"bash", "sh", "shell", "console"}


# --- this project's commands, and what runs each of them -------------------------------------
@dataclass(frozen=True)
class Exercised:
    """A command the docs may show, as a regex over the normalised command (placeholders such as
    `<model>` become `<…>`, values after `=` become `…`), and where it is run for real."""

    pattern: str
    by: str
    """The test file or CI script (relative to the repository) that runs the command."""
    mentions: tuple[str, ...]
    """Text that file must contain: the command, or the target it runs."""
    make: tuple[str, ...] = ()
    """For a make target: `make -n` arguments whose recipe must contain `recipe`."""
    recipe: str = ""


COMMANDS = (
    Exercised(r"cp \.env\.example \.env", "tests/e2e/test_make_run.py", ("cp .env.example .env", "shutil.copy")),
    # `make run` runs scripts/run_remote.py, which checks .env and starts `python -m main`.
    Exercised(r"make run", "tests/e2e/test_make_run.py", ('"run"', "make run"), ("run",), "scripts/run_remote.py"),
    Exercised(r"make demo", "tests/e2e/test_demo.py", ('"demo"', "make demo"), ("demo",), "scripts/demo.py"),
    Exercised(r"make test", ".ci/run", ("make test",), ("test",), "-m pytest"),
    # `make package` runs scripts/package.py, which test_packaging builds and checks (and
    # tests/e2e/test_install.py installs the way Dify's daemon does).
    Exercised(r"make package", "tests/unit/test_packaging.py", ('"package.py"',), ("package",), "scripts/package.py"),
    # A Marketplace build: tests/unit/test_publish.py runs scripts/package.py with the values.
    Exercised(
        r"make package REPO=… CONTACT=… AUTHOR=…",
        "tests/unit/test_publish.py",
        ('"--repo"', '"--contact"', '"--author"', "SCRIPT"),
        ("package", "REPO=https://github.com/a/b", "CONTACT=a@b.example", "AUTHOR=a"),
        'scripts/package.py --repo "https://github.com/a/b" --contact "a@b.example" --author "a"',
    ),
    # `make precheck` runs scripts/precheck.py, which tests/e2e/test_precheck.py runs through make.
    Exercised(
        r"make precheck PKG=…( STRICT=…)?",
        "tests/e2e/test_precheck.py",
        ('make("precheck"', "PKG="),
        ("precheck", "PKG=p.difypkg"),
        'scripts/precheck.py "p.difypkg"',
    ),
    # `make keys`, `make package SIGN_KEY=…` and `make verify` run scripts/signature.py and
    # scripts/package.py --sign-key, which test_signing runs and holds to a Marketplace-signed package.
    Exercised(
        r"make keys",
        "tests/unit/test_signing.py",
        ('run_signature("generate"', "SIGNATURE_SCRIPT"),
        ("keys",),
        "scripts/signature.py generate --dir keys",
    ),
    Exercised(
        r"make package SIGN_KEY=…",
        "tests/unit/test_signing.py",
        ('"--sign-key"', "PACKAGE_SCRIPT"),
        ("package", "SIGN_KEY=keys/k.private.pem"),
        'scripts/package.py --sign-key "keys/k.private.pem"',
    ),
    Exercised(
        r"make verify PKG=… KEY=…",
        "tests/unit/test_signing.py",
        ('run_signature("verify"', "SIGNATURE_SCRIPT"),
        ("verify", "PKG=p.signed.difypkg", "KEY=k.public.pem"),
        'scripts/signature.py verify "p.signed.difypkg" --key "k.public.pem"',
    ),
    # `make doctor` runs `python -m oai_bridge.doctor`, which test_zero_config runs against the
    # real llama-server and a failing endpoint.
    Exercised(
        r"make doctor BASE_URL=… MODEL=…",
        "tests/e2e/test_zero_config.py",
        ('"oai_bridge.doctor"', "def test_doctor_"),
        ("doctor", "BASE_URL=http://host:1/v1", "MODEL=m"),
        '-m oai_bridge.doctor --base-url "http://host:1/v1" --model "m" --type "llm"',
    ),
    # The key from `make doctor API_KEY=…` reaches the doctor through the environment
    # (OAI_BRIDGE_API_KEY), never its command line: tests/e2e/test_doctor.py runs it via make.
    Exercised(r"make doctor BASE_URL=… MODEL=… API_KEY=…", "tests/e2e/test_doctor.py", ('"doctor"', "API_KEY=")),
    Exercised(r"export OAI_BRIDGE_API_KEY=…", "tests/e2e/test_doctor.py", ("OAI_BRIDGE_API_KEY",)),
    # `make doctor … TYPE=…`: tests/e2e/test_doctor.py runs every model type against the real peers.
    Exercised(
        r"make doctor BASE_URL=… MODEL=… TYPE=\S+( FIELDS=…)?( API_KEY=…)?",
        "tests/e2e/test_doctor.py",
        ('"oai_bridge.doctor"', '"--type"', '"--field"'),
        ("doctor", "BASE_URL=http://host:1/v1", "MODEL=m", "TYPE=tts", "FIELDS=tts_format=wav verify_tls=off"),
        '-m oai_bridge.doctor --base-url "http://host:1/v1" --model "m" --type "tts" --field "tts_format=wav" '
        '--field "verify_tls=off"',
    ),
    Exercised(
        r"(\.venv/bin/)?python3? -m oai_bridge\.doctor( --help| --[a-z-]+ \S+)+",
        "tests/e2e/test_zero_config.py",
        ('"oai_bridge.doctor"', "def test_doctor_"),
    ),
    # The LiteLLM proxy peer: tests/support/litellm_proxy.py starts `litellm --config <the
    # config docs/scaling.md shows> --host 127.0.0.1 --port N` for tests/e2e/test_litellm_proxy.py.
    Exercised(
        r"litellm --config \S*litellm_config\.yaml --host \S+ --port \d+",
        "tests/support/litellm_proxy.py",
        ('"litellm"', '"--config"', "litellm_config.yaml", '"--host"', '"--port"'),
    ),
)

# --- other programs: the user's own environment, not this project's -----------------------------
# These are commands for software this project does not ship or test (Dify's docker compose
# setup, the model servers, Dify's CLI). They are documented as the user's own environment and
# may appear only on the pages about that environment, never in README.md.
USERS_OWN = {
    r"docker( compose)? .+": "Docker / docker compose of the user's Dify installation",
    r"dify signature (generate|sign|verify) .+": "Dify's Go command-line tool (not on PyPI)",
    r"ollama( .+)?": "Ollama",
    r"vllm serve .+": "vLLM",
    r"llama-server .+": "llama.cpp's server",
    r"whisper-server .+": "whisper.cpp's server",
    r"python3? -m sglang\.launch_server .+": "SGLang",
    r"curl .+": "curl",
}
USERS_OWN_PAGES = ("docs/servers/", "docs/troubleshooting.md", "docs/quickstart.md")


# --- Markdown helpers ---------------------------------------------------------------------------
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")


@dataclass(frozen=True)
class Block:
    lang: str
    lines: tuple[str, ...]
    line: int
    """1-based line number of the first content line."""


def split_markdown(text: str) -> tuple[list[Block], list[tuple[int, str]]]:
    """(fenced code blocks, (line number, line) of everything outside them)."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    fence: str | None = None
    lang = ""
    start = 0
    content: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if fence is None:
            match = _FENCE.match(line)
            if match:
                fence, lang, start, content = match.group(1), match.group(2).lower(), number + 1, []
            else:
                prose.append((number, line))
        elif line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
            blocks.append(Block(lang, tuple(content), start))
            fence = None
        else:
            content.append(line)
    assert fence is None, f"unclosed code fence opened at line {start - 1}"
    return blocks, prose


def github_slug(heading: str) -> str:
    """The id GitHub gives a heading: rendered text, lower-cased, punctuation removed (word
    characters, `-` and spaces kept), spaces to `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> list[str]:
    _, prose = split_markdown(path.read_text(encoding="utf-8"))
    found = []
    for _, line in prose:
        match = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            found.append(match.group(1))
    return found


def anchors(path: Path) -> set[str]:
    """Heading ids of a file, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(path):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link outside code that is not an absolute URL."""
    _, prose = split_markdown(path.read_text(encoding="utf-8"))
    for number, line in prose:
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            yield number, target


# --- shell commands -----------------------------------------------------------------------------
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PLACEHOLDER = re.compile(r"<[^<>]*>")
_OPERATORS = {"&&", "||", ";", "|"}


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str
    """As written (one logical line)."""
    normal: str
    """Leading VAR=value assignments dropped, `<…>` placeholders and values after `=` unified."""


def _logical_lines(block: Block) -> Iterator[tuple[int, str]]:
    pending = ""
    start = block.line
    for offset, raw in enumerate(block.lines):
        line = raw.strip()
        if block.lang == "console" and not pending:
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        if not pending:
            start = block.line + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line and not line.startswith("#"):
            yield start, line


def _normalise(tokens: list[str]) -> str:
    out = []
    for token in tokens:
        if _ASSIGNMENT.match(token):
            token = token.split("=", 1)[0] + "=…"
        out.append(token)
    return " ".join(out)


def shell_commands(path: Path) -> Iterator[Command]:
    blocks, _ = split_markdown(path.read_text(encoding="utf-8"))
    page = path.relative_to(ROOT).as_posix()
    for block in blocks:
        if block.lang not in SHELL_LANGS:
            continue
        for number, line in _logical_lines(block):
            tokens = shlex.split(_PLACEHOLDER.sub("<…>", line), comments=True)
            simple: list[str] = []
            for token in [*tokens, ";"]:
                if token not in _OPERATORS:
                    simple.append(token)
                    continue
                if simple:
                    words = list(simple)
                    while words and _ASSIGNMENT.match(words[0]):
                        words.pop(0)  # `OLLAMA_HOST=0.0.0.0 ollama serve`
                    yield Command(page, number, " ".join(simple), _normalise(words))
                simple = []


def _project_entry(command: Command) -> Exercised | None:
    return next((entry for entry in COMMANDS if re.fullmatch(entry.pattern, command.normal)), None)


def _users_own(command: Command) -> str | None:
    return next((what for pattern, what in USERS_OWN.items() if re.fullmatch(pattern, command.normal)), None)


ALL_COMMANDS = [command for path in COMMAND_FILES for command in shell_commands(path)]


# --- tests --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", LINKED_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for number, target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not linked.exists():
            broken.append(f"{where}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{where}: no heading with id #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_readme_links_every_doc_page() -> None:
    readme = ROOT / "README.md"
    linked = {(readme.parent / target.partition("#")[0]).resolve() for _, target in relative_links(readme)}
    missing = [page.relative_to(ROOT).as_posix() for page in _docs_pages() if page.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}: add them to its Documentation list"


def test_docs_have_commands_to_check() -> None:
    # guards the extraction itself: the quick start's commands must be found
    normals = {command.normal for command in ALL_COMMANDS}
    assert {"make demo", "cp .env.example .env", "make run", "make test", "make package"} <= normals, sorted(normals)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: f"{c.page}:{c.line}")
def test_every_documented_command_is_known(command: Command) -> None:
    where = f"{command.page}:{command.line}: `{command.text}`"
    if _project_entry(command) is not None:
        return
    what = _users_own(command)
    if what is None:
        pytest.fail(
            f"{where} is not exercised by any test. Add a test (or CI step) that runs it and a row for it "
            "in COMMANDS in tests/unit/test_docs.py; if it is another program the user runs in their own "
            "environment, add it to USERS_OWN instead."
        )
    assert command.page.startswith(USERS_OWN_PAGES), (
        f"{where} ({what}) belongs to the user's own environment, not this project: keep it on "
        f"{', '.join(USERS_OWN_PAGES)}, not in {command.page}"
    )


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda e: e.pattern)
def test_each_project_command_is_exercised_where_the_table_says(entry: Exercised) -> None:
    runner = ROOT / entry.by
    assert runner.is_file(), f"{entry.by} (said to exercise `{entry.pattern}`) does not exist"
    text = runner.read_text(encoding="utf-8")
    for needle in entry.mentions:
        assert needle in text, f"{entry.by} does not mention {needle!r}, so it does not run `{entry.pattern}`"
    if entry.make:
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        done = subprocess.run(
            ["make", "-n", *entry.make], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"make -n {' '.join(entry.make)} failed:\n{done.stdout}{done.stderr}"
        assert entry.recipe in done.stdout, (
            f"`make {' '.join(entry.make)}` no longer runs {entry.recipe!r}, which {entry.by} exercises:\n{done.stdout}"
        )


def test_scaling_page_shows_the_litellm_config_the_tests_use() -> None:
    config = (ROOT / "tests" / "peer" / "litellm_config.yaml").read_text(encoding="utf-8").strip()
    blocks, _ = split_markdown((DOCS / "scaling.md").read_text(encoding="utf-8"))
    shown = ["\n".join(block.lines).strip() for block in blocks if block.lang in ("yaml", "yml")]
    assert config in shown, "docs/scaling.md must show tests/peer/litellm_config.yaml verbatim in a ```yaml block"


def test_env_contents_are_not_shown_as_commands() -> None:
    assignments = [c for c in ALL_COMMANDS if not c.normal]
    assert not assignments, (
        "lines that only set variables are .env contents, not commands: put them in an ```ini block: "
        + ", ".join(f"{c.page}:{c.line}" for c in assignments)
    )


def test_every_form_variable_is_documented() -> None:
    provider = yaml.safe_load((ROOT / "provider" / "openai_compatible_bridge.yaml").read_text(encoding="utf-8"))
    variables = [item["variable"] for item in provider["model_credential_schema"]["credential_form_schemas"]]
    config = (DOCS / "configuration.md").read_text(encoding="utf-8")
    _, prose = split_markdown(config)
    rows = [line for _, line in prose if line.lstrip().startswith("|")]
    titles = headings(DOCS / "configuration.md")
    missing = [
        var
        for var in variables
        if not any(f"`{var}`" in title for title in titles) and not any(f"`{var}`" in row for row in rows)
    ]
    assert not missing, f"docs/configuration.md has neither a heading nor a table row for: {missing}"


# --- the helpers themselves ---------------------------------------------------------------------
def test_slugs_follow_github() -> None:
    assert github_slug("Extra request body fields (`extra_body`)") == "extra-request-body-fields-extra_body"
    assert (
        github_slug('Installing the package fails with "bad signature"')
        == "installing-the-package-fails-with-bad-signature"
    )
    assert github_slug("Reasoning: missing, or `<think>` left") == "reasoning-missing-or-think-left"
    assert github_slug("llama.cpp (`llama-server`)") == "llamacpp-llama-server"


def test_command_normalisation(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "```bash\n"
        "make doctor BASE_URL=http://x:1/v1 MODEL=<model name>   # comment\n"
        "docker compose down && docker compose up -d\n"
        "OLLAMA_HOST=0.0.0.0 ollama serve\n"
        "vllm serve m \\\n  --tool-call-parser <parser>\n"
        "```\n"
        "```console\n$ make run\noutput line\n```\n"
        "```ini\nNOT=a_command\n```\n",
        encoding="utf-8",
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        normals = [c.normal for c in shell_commands(page)]
    finally:
        ROOT = saved
    assert normals == [
        "make doctor BASE_URL=… MODEL=…",
        "docker compose down",
        "docker compose up -d",
        "ollama serve",
        "vllm serve m --tool-call-parser <…>",
        "make run",
    ]


# --- claims about behaviour, held to the code ---------------------------------------------------
def _prose(path: Path) -> str:
    """A page's text outside code blocks, whitespace collapsed (inline code kept)."""
    _, prose = split_markdown(path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", " ".join(line for _, line in prose))


def test_make_run_output_in_the_quickstart_is_the_launchers() -> None:
    import run_remote  # scripts/ is on the test path

    address = "dify.example:5003"
    said = {
        "Starting the plugin for": f"Starting the plugin for {address}: ",
        "refused the debugging": run_remote._failure("handshake failed, invalid key", address, False),
        "Cannot connect to Dify's": run_remote._failure(f"Failed to connect to {address}", address, False),
    }
    page = _prose(DOCS / "quickstart.md")
    section = page[page.index("What you see") : page.index("More in [troubleshooting]")]
    quoted = [q.replace("<host>:<port>", address) for q in re.findall(r"`([^`]*)`", section)]
    for marker, message in said.items():
        assert message, marker
        shown = [q for q in quoted if marker in q]
        assert shown, f"the quickstart does not quote the launcher's {marker!r} line"
        for quote in shown:
            head = quote.split("…")[0]
            assert message.startswith(head) or head.startswith(message[: len(head)]), (quote, message)
    assert "handshake failed" not in section  # the raw SDK's words, which make run does not show


# --- the model form: what Dify always shows (labels, placeholders, option labels) is true -------
_FORM_ITEMS = yaml.safe_load((ROOT / "provider" / "openai_compatible_bridge.yaml").read_text(encoding="utf-8"))[
    "model_credential_schema"
]["credential_form_schemas"]
_FORM = {item["variable"]: item for item in _FORM_ITEMS}
_FORM_LANGS = ("en_US", "zh_Hans", "ja_JP", "pt_BR")


@pytest.mark.parametrize("variable", list(_FORM), ids=str)
def test_every_form_field_carries_its_guidance_in_a_placeholder(variable: str) -> None:
    # Whether `help` reaches the user depends on the daemon and Dify version (remote debug drops
    # it); labels and placeholders are always shown.
    placeholder = _FORM[variable].get("placeholder") or {}
    assert all(str(placeholder.get(lang, "")).strip() for lang in _FORM_LANGS), f"{variable}: placeholder"


def _plugin_code() -> tuple:
    """The modules these checks read, imported like the plugin does (the SDK first, quietly)."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        # Importing the SDK monkeypatches the process with gevent (which warns when ssl was
        # imported first) and trips pydantic deprecation warnings inside the SDK.
        warnings.simplefilter("ignore")
        importlib.import_module("dify_plugin")
        return (
            importlib.import_module("oai_bridge.config.findings"),
            importlib.import_module("oai_bridge.discovery.capabilities"),
            importlib.import_module("oai_bridge.chat.schema"),
            importlib.import_module("oai_bridge.config.settings"),
        )


def test_inputs_auto_cannot_detect_say_auto_is_off() -> None:
    findings, capabilities, _, _ = _plugin_code()
    AUTO_DEFAULTS, CHAT_CAPABILITIES = findings.AUTO_DEFAULTS, capabilities.CHAT_CAPABILITIES

    undetected = [name for name in ("video", "document") if name not in CHAT_CAPABILITIES]
    assert undetected == ["video", "document"]
    for name in undetected:
        assert AUTO_DEFAULTS[name] is False
        auto = next(option for option in _FORM[name]["options"] if option["value"] == "auto")
        assert "off" in auto["label"]["en_US"].lower() and "detect" not in auto["label"]["en_US"].lower(), auto
    for name in CHAT_CAPABILITIES:  # the ones saving does test keep "Auto-detect"
        auto = next(option for option in _FORM[name]["options"] if option["value"] == "auto")
        assert "detect" in auto["label"]["en_US"].lower(), name


def test_context_size_names_the_model_types_it_serves() -> None:
    # Dify shows it on every model type's form (show_on cannot list several types); speech ignores it.
    item = _FORM["context_size"]
    assert "show_on" not in item
    label, placeholder = item["label"]["en_US"], item["placeholder"]["en_US"]
    assert all(kind in label for kind in ("LLM", "embedding", "rerank")), label
    assert "not used by speech" in placeholder, placeholder


def test_extra_body_example_is_no_parameter_dify_already_sends() -> None:
    _, _, schema, settings = _plugin_code()
    rules = schema.parameter_rules(settings.parse_settings("m", {"base_url": "http://h/v1"}), max_tokens=None)
    sent = {rule.name for rule in rules}
    for lang in _FORM_LANGS:
        example = json.loads(re.search(r"\{.*\}", _FORM["extra_body"]["placeholder"][lang]).group(0))
        assert not set(example) & sent, (lang, example)


def test_extra_body_scope_is_every_request_of_the_model() -> None:
    help_text = _FORM["extra_body"]["help"]["en_US"]
    for kind in ("chat", "completion", "embedding", "rerank", "transcription", "speech"):
        assert kind in help_text, kind
    config = _prose(DOCS / "configuration.md")
    section = config[config.index("### Extra request body fields") :][:900]
    assert "rerank" in section and "speech" in section, section


def test_batch_size_help_claims_no_memory_for_embeddings() -> None:
    # Only rerank keeps the batch size that worked (rerank.run); embeddings split a refused
    # batch again on every call.
    texts = " ".join(_FORM["max_chunks"]["help"].values()).lower()
    assert "remember" not in texts and "记住" not in texts and "記憶" not in texts and "lembrado" not in texts


def test_rerank_image_input_has_a_manual_override() -> None:
    item = _FORM["rerank_images"]
    assert item["show_on"] == [{"variable": "__model_type", "value": "rerank"}]
    assert [option["value"] for option in item["options"]] == ["auto", "on", "off"]


def test_server_commands_listen_beyond_loopback_and_llama_server_names_its_model() -> None:
    # llama-server and SGLang listen on 127.0.0.1 by default: Dify in Docker
    # (host.docker.internal) cannot reach that. Context size is read from the /models entry whose
    # id is the model name, which llama-server lists as the file path unless given --alias.
    commands = [c for c in ALL_COMMANDS if c.page.startswith("docs/servers/")]
    llama = [c for c in commands if c.normal.startswith("llama-server ")]
    sglang = [c for c in commands if "sglang.launch_server" in c.normal]
    assert llama and sglang
    for command in llama + sglang:
        assert "--host 0.0.0.0" in command.text, f"{command.page}:{command.line}: {command.text}"
    for command in llama:
        assert "--alias " in command.text, f"{command.page}:{command.line}: {command.text}"


def test_local_tts_page_says_to_pick_the_default_voice_the_tests_set() -> None:
    peer = (ROOT / "tests" / "support" / "tts_peer.py").read_text(encoding="utf-8")
    assert '"api_default_voice": VOICE' in peer  # what the tests' server runs with
    speech = _prose(DOCS / "servers" / "speech.md")
    section = speech[speech.index("## local-tts (Piper)") : speech.index("## whisper.cpp server")]
    assert "Pick a default voice first" in section and "`api_default_voice`" in section


_CODE_PATH = re.compile(r"`((?:[\w.-]+/)*[\w.-]+\.(?:py|sh|yaml|yml|toml|txt))`")
# Paths in other projects' repositories that the docs cite (Dify's docker/ and api/ folders), and
# files the user makes (Dify's compose files, marketplace.toml).
_OTHER_REPOS = ("docker/", "api/")
_USERS_FILES = ("docker-compose.yaml", "docker-compose.override.yaml", "marketplace.toml")


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name]


@pytest.mark.parametrize("path", [ROOT / "README.md", *_docs_pages()], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_files_the_docs_name_exist(path: Path) -> None:
    # A doc naming a module that was moved or removed sends readers to nothing. A name may be
    # given from the repository's root or from inside a folder (`transport/sse.py`).
    tracked = _tracked_files()
    _, prose = split_markdown(path.read_text(encoding="utf-8"))
    missing = []
    for number, line in prose:
        for name in _CODE_PATH.findall(line):
            if name.startswith(_OTHER_REPOS) or name in _USERS_FILES:
                continue
            if not any(f == name or f.endswith("/" + name) for f in tracked):
                missing.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert not missing, "\n".join(missing)


def test_detected_keys_the_docs_name_are_written_by_the_plugin() -> None:
    # Saved findings are `_detected_<name>`: a feature (config.findings.FEATURES), a size, or a
    # value the detection code names as a string literal.
    findings, _, _, _ = _plugin_code()
    # (not the form reader, config/settings.py, whose literals are form fields)
    sources = [p for p in (ROOT / "oai_bridge").rglob("*.py") if p.name != "settings.py"]
    code = " ".join(p.read_text(encoding="utf-8") for p in sources)
    named = set()
    for page in [ROOT / "README.md", *_docs_pages()]:
        named |= set(re.findall(r"`_detected_([a-z_]+)`", page.read_text(encoding="utf-8")))
    assert named
    unknown = sorted(
        name
        for name in named
        if name not in findings.FEATURES and name not in ("context_size", "dimensions") and f'"{name}"' not in code
    )
    assert not unknown, f"docs name saved keys the plugin never writes: {unknown}"


# The variables of Dify's official OpenAI-API-compatible plugin's model form
# (langgenius/dify-official-plugins, models/openai_api_compatible/provider/openai_api_compatible.yaml).
OFFICIAL_FORM = [
    "display_name",
    "api_key",
    "language",
    "initial_prompt",
    "endpoint_url",
    "rerank_endpoint_url",
    "endpoint_model_name",
    "mode",
    "context_size",
    "max_chunks",
    "encoding_format",
    "vision_support",
    "max_tokens_to_sample",
    "agent_thought_support",
    "web_search_support",
    "compatibility_mode",
    "api_type",
    "token_param_name",
    "user_identity_support",
    "stream_include_usage",
    "function_calling_type",
    "stream_function_calling",
    "video_support",
    "audio_support",
    "audio_transfer_format",
    "document_support",
    "structured_output_support",
    "stream_mode_auth",
    "stream_mode_delimiter",
    "voices",
    "tts_api_format",
    "tts_resource_id",
    "tts_sample_rate",
    "document_prefix",
    "query_prefix",
]


def _migration_rows() -> list[tuple[str, str]]:
    text = (DOCS / "migrating-from-official-plugin.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| [^|]+ \| `([a-z_]+)` \| (.+) \|$", text, re.M)
    assert rows, "no field table"
    return rows


def test_migration_guide_maps_every_official_field() -> None:
    mapped = {variable for variable, _ in _migration_rows()}
    assert set(OFFICIAL_FORM) <= mapped, sorted(set(OFFICIAL_FORM) - mapped)


def test_migration_guide_names_only_fields_this_form_has_and_offers_what_it_has() -> None:
    for variable, here in _migration_rows():
        for named in re.findall(r"\(`([a-z_]+)`", here):
            assert named in _FORM, f"{variable}: names `{named}`, not a field of this plugin's form"
        if here.startswith("not offered"):
            # a field this plugin gained since must be mapped, not called missing
            assert variable not in _FORM, f"{variable} is a field here now: update its row"


def test_manifest_description_names_every_model_type() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
    provider = yaml.safe_load((ROOT / "provider" / "openai_compatible_bridge.yaml").read_text(encoding="utf-8"))
    words = {"llm": "chat", "text-embedding": "embeddings", "rerank": "rerank"}
    words |= {"speech2text": "speech to text", "tts": "text to speech"}
    description = manifest["description"]["en_US"]
    for model_type in provider["supported_model_types"]:
        assert words[model_type] in description, model_type
    assert all(len(text) < 1024 for text in manifest["description"].values())


def _architecture_rows() -> list[str]:
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    return [line for line in page.splitlines() if line.startswith("| `")]


@pytest.mark.parametrize(
    "module",
    sorted(
        p.relative_to(ROOT / "oai_bridge").as_posix()
        for p in (ROOT / "oai_bridge").rglob("*.py")
        if p.name != "__init__.py"
    ),
)
def test_architecture_names_every_module(module: str) -> None:
    # docs/architecture.md's table of folders (and the modules beside them) is where a reader finds
    # a module's job: each is named by its path, its dotted name, or its file name in the row of
    # its own folder (a row shared by two folders needs the path).
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    stem = module.removesuffix(".py")
    name = module.rsplit("/", 1)[-1]
    if "/" not in module:
        assert f"`{name}`" in page or f"oai_bridge.{stem}" in page, f"docs/architecture.md does not name {module}"
        return
    folder = module.split("/", 1)[0]
    row = next((r for r in _architecture_rows() if f"`{folder}/`" in r.split("|")[1]), "")
    alone = row.split("|")[1].count("/`") == 1
    named = (
        module in page
        or re.search(rf"(?<![\w.]){re.escape(stem.replace('/', '.'))}\b", page)
        or (alone and f"`{name}`" in row)
    )
    assert named, f"docs/architecture.md does not name {module} (in the `{folder}/` row or by its path)"
