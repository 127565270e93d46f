"""What the browser tests share: a real `reemploi up --demo`, Debian's
Chromium driven by Playwright, and the checks made on every page a test sees
(a screenshot, axe-core, no Content Security Policy violation, and on a
phone no sideways scrolling).

Paths come from the environment: REEMPLOI_BIN (the `reemploi` binary,
target/debug/reemploi by default), CHROMIUM (/usr/bin/chromium) and
REEMPLOI_SCREENSHOTS (target/web-screenshots).
"""

import ctypes
import email
import email.policy
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
BIN = Path(os.environ.get("REEMPLOI_BIN", REPO / "target" / "debug" / "reemploi"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("REEMPLOI_SCREENSHOTS", REPO / "target" / "web-screenshots"))
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"

# What axe reports and fails the suite; lesser findings are only listed.
FAILING_IMPACTS = ("serious", "critical")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


class Failure(AssertionError):
    """A check that did not hold."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def eventually(what, attempt, timeout=20.0, pause=0.3):
    """The first truthy result of `attempt()`, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = attempt()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Failure(f"never happened within {timeout:.0f} s: {what}")
        time.sleep(pause)


def _die_with_parent():
    """Makes the child get SIGTERM if the test process dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Up:
    """`reemploi up --demo` on free ports, in a throwaway data directory,
    with embedded storage (SQLite, in-process events) whatever the
    environment says. Its stderr goes to `SHOTS/reemploi-up.log`."""

    def __init__(self):
        check(BIN.is_file(), f"no reemploi binary at {BIN}: cargo build -p reemploi (or set REEMPLOI_BIN)")
        self.data = Path(tempfile.mkdtemp(prefix="reemploi-browser."))
        self.key = os.urandom(32)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "NATS_URL", "REEMPLOI_JWT_SECRET", "REEMPLOI_JWT_PUBLIC_KEY")
            and not k.startswith("REEMPLOI_WEB_")
        }
        # The CLI keeps its login under the configuration directory: not the user's.
        self.env["XDG_CONFIG_HOME"] = str(self.data / "config")
        self.env["HOME"] = str(self.data / "home")
        self.env.setdefault("RUST_LOG", "info")
        env = dict(self.env, REEMPLOI_WEB_COOKIE_KEY=self.key.hex())
        self.log_path = SHOTS / "reemploi-up.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(BIN), "up", "--demo", "--listen", "127.0.0.1:0", "--web-listen", "127.0.0.1:0",
             "--data-dir", str(self.data / "data")],
            stdout=subprocess.PIPE, stderr=self.log, env=env, text=True,
            preexec_fn=_die_with_parent,
        )
        lines = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        self.accounts = {}  # role (ACCOUNT_ROLE_…) → emails
        self.password = None
        self.invitation = None  # the first admin's, printed by `up`
        self.addr = None
        self.web = None
        deadline = time.monotonic() + 120
        while self.web is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop(expect_clean=False)
                raise Failure(f"reemploi up printed no `web app on` line within 120 s; see {self.log_path}")
            if line is None:
                raise Failure(f"reemploi up exited ({self.proc.wait()}) before serving; see {self.log_path}")
            if m := re.match(r"^\s+(\S+@\S+)\s+(ACCOUNT_ROLE_\w+)\s*$", line):
                self.accounts.setdefault(m[2], []).append(m[1])
            elif m := re.search(r"/invitation\?code=(\S+)", line):
                self.invitation = m[1]
            elif m := re.match(r"^\s+password: (\S+)\s*$", line):
                self.password = m[1]
            elif line.startswith("listening on "):
                self.addr = line.split()[-1]
            elif line.startswith("web app on "):
                self.web = line.split()[-1].rstrip("/")
        check(self.password, "up --demo printed no password")
        check(self.addr, "no `listening on` line before `web app on`")
        for role in ("ACCOUNT_ROLE_ADMIN", "ACCOUNT_ROLE_SITE_MANAGER", "ACCOUNT_ROLE_PARTNER"):
            check(role in self.accounts, f"up --demo printed no {role} account")

    def _drain(self, lines):
        for line in self.proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def email(self, role):
        return self.accounts[f"ACCOUNT_ROLE_{role}"][0]

    def cli(self, *args, token):
        """One `reemploi` client command against this server, its JSON answer."""
        out = subprocess.run(
            [str(BIN), "--addr", f"http://{self.addr}", "--output", "json", *args],
            env=dict(self.env, REEMPLOI_TOKEN=token), capture_output=True, text=True, timeout=60,
        )
        check(out.returncode == 0, f"reemploi {' '.join(args)}: exit {out.returncode}\n{out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip() else None

    def token(self, *args):
        """A development token `reemploi token` signs with this server's secret."""
        out = subprocess.run(
            [str(BIN), "token", "--data-dir", str(self.data / "data"), "--ttl-hours", "1", *args],
            env=self.env, capture_output=True, text=True, timeout=60,
        )
        check(out.returncode == 0, f"reemploi token: {out.stderr}")
        return out.stdout.strip()

    def mailed_link(self, to, path):
        """The path and query of the last link to `path` mailed to `to`
        (without --smtp-url, `up` writes each mail to <data-dir>/mail/)."""
        found = None
        for eml in sorted((self.data / "data" / "mail").glob("*.eml")):
            mail = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
            if to not in str(mail["To"]):
                continue
            body = mail.get_body(preferencelist=("plain",)).get_content()
            if m := re.search(re.escape(path) + r"\?code=[\w-]+", body):
                found = m[0]
        check(found, f"no mail to {to} with a link to {path}")
        return found

    def stop(self, expect_clean=True):
        """SIGTERM, as Ctrl-C or a service manager would; it must exit 0 in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if expect_clean:
                    raise Failure("reemploi up did not stop within 30 s of SIGTERM")
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)
        if expect_clean:
            check(self.proc.returncode == 0, f"reemploi up exited {self.proc.returncode} on SIGTERM; see {self.log_path}")


def _short(error):
    """An unexpected error (a Playwright timeout…): where in the tests, and its message."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).parent == HERE]
    where = "".join(f"  {Path(f.filename).name}:{f.lineno}: {f.line}\n" for f in frames[1:])
    return f"{type(error).__name__}: {str(error).strip()}\n{where}"


class Suite:
    """The browser, the server, the counters of screenshots, and every
    failure and axe finding, reported at the end."""

    def __init__(self, playwright, up):
        self.up = up
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        self.axe_source = AXE.read_text()
        self.shots = 0
        self.pages = 0
        self.failures = []  # (journey, text)
        self.violations = []  # (page, url, violation)
        self.minor = {}  # rule id → (impact, help, pages)
        self.state = {}  # what journeys hand on to the following ones

    def run(self, name, journey):
        started = time.monotonic()
        print(f"— {name}", flush=True)
        try:
            journey()
        except Exception as e:  # noqa: BLE001 (every failure is reported, then the next journey runs)
            text = e.args[0] if isinstance(e, Failure) else _short(e)
            self.failures.append((name, text))
            print(f"  FAILED: {text}", flush=True)
        else:
            print(f"  ok ({time.monotonic() - started:.1f} s)", flush=True)

    def needs(self, key):
        """What an earlier journey handed on; a clear failure if it could not."""
        check(key in self.state, f"not run: it needs the {key} of an earlier journey, which failed")
        return self.state[key]

    def person(self, name, js=True, phone=False):
        return Person(self, name, js=js, phone=phone)

    def shot_path(self, label):
        self.shots += 1
        return SHOTS / f"{self.shots:02d}-{label}.png"

    def axe(self, page, label):
        """Runs axe-core on the page as it is. It is evaluated through the
        DevTools protocol rather than added as a <script>: the pages' CSP
        (script-src 'self') rightly refuses inline scripts, and stays on."""
        page.evaluate(self.axe_source)
        found = page.evaluate(
            """async () => {
                const r = await axe.run(document, { resultTypes: ['violations'] });
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
                    nodes: v.nodes.map(n => ({ target: n.target.join(' '), html: n.html,
                                               summary: n.failureSummary })),
                }));
            }"""
        )
        for v in found:
            if v["impact"] in FAILING_IMPACTS:
                self.violations.append((label, page.url, v))
                print(f"  axe: {v['impact']} {v['id']} on {label}", flush=True)
            else:
                entry = self.minor.setdefault(v["id"], (v["impact"], v["help"], set()))
                entry[2].add(label)

    def report(self):
        """Prints what failed; True when nothing did."""
        print()
        print(f"{self.pages} page views checked, {self.shots} screenshots in {SHOTS}")
        for rule, (impact, text, pages) in sorted(self.minor.items()):
            print(f"axe (not failing, {impact}): {rule}: {text} — on {', '.join(sorted(pages))}")
        if self.violations:
            rules = {}
            for label, url, v in self.violations:
                rules.setdefault(v["id"], (v, []))[1].append(f"{label} ({url})")
            print(f"\naxe-core: {len(rules)} serious or critical rule(s) violated, "
                  f"on {len(self.violations)} page view(s):")
            for v, pages in rules.values():
                print(f"\n  [{v['impact']}] {v['id']}: {v['help']}\n  rule: {v['url']}")
                print("  pages: " + "\n         ".join(pages))
                print("  first page's elements:")
                for node in v["nodes"][:10]:
                    print(f"    at {node['target']}: {node['html'][:200]}")
                    for line in (node["summary"] or "").splitlines():
                        print(f"      {line}")
        if self.failures:
            print(f"\n{len(self.failures)} journey(s) failed:")
            for name, text in self.failures:
                print(f"\n  {name}:\n    " + text.replace("\n", "\n    "))
        ok = not self.failures and not self.violations
        print("\nbrowser tests: " + ("ok" if ok else "FAILED"))
        return ok


class Person:
    """Someone at a browser: one browser context (own cookies), one tab."""

    def __init__(self, suite, name, js=True, phone=False):
        self.suite = suite
        self.name = name
        self.js = js
        self.phone = phone
        options = {"base_url": suite.up.web, "locale": "fr-FR", "java_script_enabled": js}
        if phone:
            options.update(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        else:
            options.update(viewport=DESKTOP)
        self.context = suite.browser.new_context(**options)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("response", self._response)

    def _console(self, message):
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.problems.append(f"console: {message.text}")

    def _response(self, response):
        if "/static/" in response.url and response.status != 200:
            self.problems.append(f"{response.url}: {response.status}")

    def close(self):
        self.context.close()

    # Navigation, each followed by the checks of a page seen.

    def goto(self, path, label, status=200):
        response = self.page.goto(path)
        self.seen(response, label, status)
        return response

    def submit(self, button, label=None, status=200):
        """Clicks the submit button named `button` (its accessible name),
        waits for the page it leads to."""
        with self.page.expect_navigation() as navigation:
            self.page.get_by_role("button", name=button, exact=True).click()
        self.seen(navigation.value, label, status)
        return navigation.value

    def follow(self, link, label, status=200):
        with self.page.expect_navigation() as navigation:
            self.page.get_by_role("link", name=link, exact=True).first.click()
        self.seen(navigation.value, label, status)
        return navigation.value

    def seen(self, response, label, status):
        page = self.page
        if label is None:  # named after the page reached
            label = self.path().split("?")[0].strip("/").replace("/", "-") or "accueil"
        label = f"{self.name}-{label}"
        check(response is not None, f"{label}: no response")
        check(response.status == status,
              f"{label}: {page.url} answered {response.status}, expected {status}")
        self.suite.pages += 1
        page.screenshot(path=str(self.suite.shot_path(label)), full_page=True)
        check(page.locator("h1").count() == 1, f"{label}: not exactly one h1")
        if self.js:
            self.suite.axe(page, label)
        if self.phone:
            self.no_sideways_scrolling(label)
        problems, self.problems = list(dict.fromkeys(self.problems)), []
        check(not problems, f"{label}: " + "\n".join(problems))

    def no_sideways_scrolling(self, label):
        """Neither the page nor any box in it scrolls sideways."""
        width = self.page.evaluate(
            """() => {
                const inner = window.innerWidth;
                const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                    + (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ').join('.') : '');
                const wide = [...document.body.querySelectorAll('*')]
                    .filter(e => e.getBoundingClientRect().right > inner + 0.5)
                    .map(name);
                const scrolling = [...document.body.querySelectorAll('*')]
                    .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
                                 && e.scrollWidth > e.clientWidth)
                    .map(name);
                return { scroll: document.documentElement.scrollWidth, inner, wide, scrolling };
            }"""
        )
        check(width["scroll"] <= width["inner"],
              f"{label}: the page is {width['scroll']} px wide in a {width['inner']} px window; "
              f"too wide: {', '.join(width['wide'][:8])}")
        check(not width["scrolling"],
              f"{label}: scrolls sideways inside {', '.join(width['scrolling'][:8])}")

    # What people do.

    def fill(self, label, value):
        self.page.get_by_label(label, exact=True).fill(value)

    def sign_in(self, email, password, label="connexion", arrive=None, status=200):
        """Signs in on the sign-in page (going there first if elsewhere);
        checks the page reached when `arrive` (a path, or a path and query) is given."""
        if not self.page.url.split("?")[0].endswith("/connexion"):
            self.goto("/connexion", label)
        self.fill("Adresse électronique", email)
        self.fill("Mot de passe", password)
        self.submit("Se connecter", None if status == 200 else f"{label}-refusee", status=status)
        if arrive is not None:
            check(self.path() == arrive, f"{self.name}: signed in at {self.path()}, expected {arrive}")

    def sign_out(self):
        self.submit("Se déconnecter", "deconnexion")
        check(self.path() == "/connexion", f"signed out at {self.path()}")

    def path(self):
        """The current path and query."""
        url = self.page.url
        return url[len(self.suite.up.web):] if url.startswith(self.suite.up.web) else url

    def text(self):
        return self.page.locator("main").inner_text()

    def cookie(self, name):
        return next((c for c in self.context.cookies() if c["name"] == name), None)


def siret(first13):
    """A SIRET of 14 digits whose Luhn check holds."""
    for last in "0123456789":
        digits = [int(c) for c in first13 + last]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
                    for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return first13 + last
    raise ValueError(first13)


def prepare_screenshots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()


def require_axe():
    if not AXE.is_file():
        sys.exit(f"axe-core is not installed: (cd {HERE} && npm ci)")
