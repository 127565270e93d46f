#!/usr/bin/env python3
"""Browser tests of the web app: Playwright for Python driving Debian's
Chromium headless against a real `reemploi up --demo`.

    cargo build -p reemploi
    (cd services/web/tests/browser && npm ci)      # axe-core, never committed
    python3 services/web/tests/browser/journey.py

scripts/test installs what is missing and runs it after `cargo test`.
Every page seen is screenshotted under target/web-screenshots/ and checked
with axe-core (any serious or critical violation fails), for a single h1,
for Content Security Policy violations, and on a phone for sideways
scrolling. The journeys, in order (later ones use what earlier ones made):

1. a visitor: home goes to sign-in; sign-in, sign-up and 404 pages;
2. a structure signs up, describes itself (a bad SIRET shown beside its
   field first), the demo admin verifies it on /partenaires, the structure
   signs in again, finds lots nearest first on /lots, claims radiators on a
   lot page (a quantity it cannot read refused first) and sees the claim in
   /mes-reservations and on its own page;
3. the same journey with JavaScript disabled, by another structure;
4. on a phone (375 x 812): the lot list, a lot page and its claim form, and
   a claim, without sideways scrolling;
5. the demo site manager: its sites, the demo site with lots by status and
   their ledger bars (the claims above show as reserved), publishing a draft;
6. cookies: HttpOnly and SameSite=Lax, unreadable by the page's script;
7. sessions: absent, unreadable, expired with a live refresh token (renewed
   silently) and expired for good: sign-in, then back to the page asked for.

The other modules' journeys run among these: partner_pages.py (filters,
map, cancellations, recommendations, profile), manager_pages.py (a claim
confirmed and handed over), figures_pages.py (outcomes and hours declared
on that claim, the territory's figures), imports.py (a diagnostic).
"""

import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the tests

from playwright.sync_api import sync_playwright  # noqa: E402

import figures_pages  # noqa: E402
import manager_pages  # noqa: E402
import partner_pages  # noqa: E402
import imports  # noqa: E402
import sealed  # noqa: E402
from harness import Failure, Suite, Up, check, eventually, prepare_screenshots, require_axe, siret  # noqa: E402

RADIATORS = "Radiateurs fonte à colonnes"
DEMO_SITE = "Coteaux – démolition tour A"
PASSWORD = "un mot de passe assez long pour le test"
NEW_PASSWORD = "un autre mot de passe, changé par le lien"
# Where the structures that sign up receive materials, 1.4 km from the demo site.
HOME = ("47,7480", "7.3200")
# Sites made for the tests with the reemploi CLI (no page makes sites yet),
# one nearer the structures than the demo site and one farther, so that the
# order of /lots says something.
NEAR_LOT = "Portes palières bois (test, près)"
FAR_LOT = "Lavabos céramique (test, loin)"
DRAFT_LOT = "Carrelage grès (test, brouillon)"
NEAR_SITE = "Chantier test Doller"
FAR_SITE = "Chantier test Wittenheim"


def setup_sites(suite):
    up = suite.up
    token = up.token("--role", "site_manager", "--org", "m2a-habitat")

    def site(name, lat, lon):
        made = up.cli("sites", "create", "--name", name, "--lat", lat, "--lon", lon,
                      "--owner-org", "m2a-habitat", "--commune", "Mulhouse", token=token)
        return made["name"]

    def lot(site_name, designation, category, publish=True):
        made = up.cli("lots", "create", "--site", site_name, "--designation", designation,
                      "--category", category, "--quantity", "12", "--unit", "u", "--mass-kg", "120",
                      token=token)
        if publish:
            up.cli("lots", "publish", made["name"], token=token)
        return made["name"]

    near = site(NEAR_SITE, "47.7482", "7.3215")
    far = site(FAR_SITE, "47.8060", "7.3370")
    lot(near, NEAR_LOT, "porte-interieure")
    lot(near, DRAFT_LOT, "carrelage", publish=False)
    lot(far, FAR_LOT, "sanitaire")


def visitor(suite):
    v = suite.person("visiteur")
    v.goto("/", "accueil")
    check(v.path() == "/connexion", f"home sends a visitor to sign in, not {v.path()}")
    check(v.page.get_by_role("link", name="Aller au contenu").count() == 1, "a skip link")
    v.goto("/inscription", "inscription")
    v.goto("/nulle-part", "introuvable", status=404)
    check("Page introuvable" in v.page.locator("h1").inner_text(), "the 404 page says so")
    # A wrong password: the form again with its error, no session.
    v.sign_in(suite.up.email("ADMIN"), "pas le bon mot de passe", status=401)
    check(v.page.get_by_text("Adresse ou mot de passe incorrect").count() >= 1, "the sign-in error is shown")
    check(v.cookie("reemploi_session") is None, "no session after a wrong password")
    v.close()


def first_admin(suite):
    """The first admin's invitation, printed by `up`, accepted in the browser."""
    up = suite.up
    check(up.invitation, "up printed the first admin's invitation")
    a = suite.person("premier-admin")
    a.goto(f"/invitation?code={up.invitation}", "invitation")
    a.fill("Votre nom", "Dominique, m2A")
    a.fill("Nouveau mot de passe", "court")
    a.submit("Créer mon compte", "invitation-erreur", status=400)
    check(a.page.locator("#password-erreur").is_visible(), "the password's error is beside it")
    a.fill("Nouveau mot de passe", PASSWORD)
    a.submit("Créer mon compte")
    check(a.path() == "/partenaires", f"an admin's first page: {a.path()}")
    check("Dominique, m2A (administration du territoire)" in a.page.locator("header").inner_text(),
          "the header says who is signed in, and as what")
    a.close()


def structure_journey(suite, n, js):
    """Structure `n`, from its sign-up to its claim, the admin verifying it."""
    up = suite.up
    prefix = "structure" if js else "structure-sans-js"
    legal = f"Atelier Réemploi test {n}"
    email = f"equipe@atelier-test-{n}.example"
    quantity = 5 if js else 3
    s = suite.person(f"{prefix}{n}", js=js)
    # Sign-up: a too short password first, shown beside its field.
    s.goto("/inscription", "inscription")
    s.fill("Nom de la structure", legal)
    s.fill("Votre nom", f"Camille {n}")
    s.fill("Adresse électronique", email)
    s.fill("Mot de passe", "court")
    s.submit("Créer le compte", "inscription-erreur", status=400)
    check(s.page.locator("[aria-invalid=true]").count() >= 1, "the refused field is marked invalid")
    check(s.page.get_by_role("alert").count() == 1, "the error summary is an alert")
    check(s.page.get_by_label("Nom de la structure", exact=True).input_value() == legal,
          "what was typed is kept")
    s.fill("Mot de passe", PASSWORD)
    s.submit("Créer le compte", "structure-formulaire")
    check(s.path() == "/structure", f"sign-up goes on to the structure's form, not {s.path()}")
    # The structure's description: a SIRET whose check digit is wrong first.
    s.fill("Raison sociale", legal)
    s.fill("SIRET (14 chiffres)", "12345678901234")
    s.page.get_by_label("Type de structure", exact=True).select_option(label="Atelier et chantier d'insertion (ACI)")
    s.fill("Adresse", "2 rue de la Doller")
    s.fill("Code postal", "68100")
    s.fill("Commune", "Mulhouse")
    s.fill("Latitude (degrés décimaux)", HOME[0])
    s.fill("Longitude (degrés décimaux)", HOME[1])
    s.fill("Rayon d'intervention (km, de 1 à 200)", "15")
    s.fill("Capacité d'accueil par semaine (kg)", "8000")
    for category in ("Radiateur", "Porte intérieure", "Appareil sanitaire"):
        box = s.page.get_by_role("checkbox", name=category, exact=True)
        if box.count() == 1:
            box.check()
    check(s.page.locator("input[name=accepted_categories]:checked").count() >= 1, "categories ticked")
    s.fill("Courriel de contact", email)
    s.fill("Téléphone de contact", "03 89 00 00 00")
    s.submit("Enregistrer la structure", "structure-erreur", status=400)
    check(s.page.locator("#siret-erreur").is_visible(), "the SIRET's error is beside it")
    check(s.page.get_by_label("Raison sociale", exact=True).input_value() == legal, "the form is kept")
    s.fill("SIRET (14 chiffres)", siret(f"8123456780{n:03d}"))
    s.submit("Enregistrer la structure", "structure-en-attente")
    check("Votre structure est enregistrée" in s.text(), "the structure is registered")
    suite.state.setdefault("structures", []).append(email)
    check(s.page.get_by_role("status").filter(has_text="attend la vérification").count() == 1,
          "the pending banner")
    s.goto("/lots", "lots-en-attente")
    check(s.page.get_by_role("status").count() == 1, "the pending banner on the lots too")

    # The territory's admin verifies it.
    a = suite.person(f"admin{'' if js else '-sans-js'}", js=js)
    a.sign_in(up.email("ADMIN"), up.password, arrive="/partenaires")
    check(a.page.get_by_role("row", name=re.compile(re.escape(legal))).count() == 1, "the new structure is listed")
    a.page.get_by_label("Statut", exact=True).select_option(label="en attente de vérification")
    a.submit("Filtrer", "partenaires-en-attente")
    check(a.path() == "/partenaires?statut=en-attente", f"the filter is a GET form: {a.path()}")
    rows = a.page.locator("tbody tr")
    check(rows.count() >= 1 and all("en attente" in t for t in rows.all_inner_texts()),
          "only pending structures")
    a.submit(f"Vérifier {legal}", "partenaires-verifiee")
    check(a.path() == "/partenaires", f"back to the partners: {a.path()}")
    row = a.page.get_by_role("row", name=re.compile(re.escape(legal)))
    check("vérifiée" in row.inner_text(), f"the structure shows verified: {row.inner_text()}")
    a.close()

    # The structure signs in again and finds lots, nearest first.
    s.sign_out()
    s.sign_in(email, PASSWORD, arrive="/lots")
    check(s.page.get_by_role("status").count() == 0, "no pending banner once verified")
    names = s.page.locator("tbody th").all_inner_texts()
    distances = [float(re.match(r"([\d,]+) km", t)[1].replace(",", "."))
                 for t in s.page.locator("tbody td:last-child").all_inner_texts()]
    check(len(names) == len(distances) >= 3, f"lots with a distance each: {names} {distances}")
    check(distances == sorted(distances), f"lots sorted by distance: {distances}")
    check(names[0] == NEAR_LOT and names[-1] == FAR_LOT,
          f"the nearest site's lot first, the farthest last: {names}")
    check(RADIATORS in names and DRAFT_LOT not in names, f"published lots only: {names}")
    check(distances[names.index(RADIATORS)] == 1.4, "the demo site is 1,4 km away")
    if not js:
        check(s.page.locator("input[type=search]").count() == 0, "no script ran (no live filter)")
    # A lot page, its ledger and claim form.
    s.follow(RADIATORS, "lot")
    check(s.page.locator("h1").inner_text() == RADIATORS, "the lot's page")
    bar = s.page.get_by_role("img").filter(has=s.page.locator("rect"))
    check(bar.count() == 1 and "disponible" in (bar.get_attribute("aria-label") or ""),
          "the ledger bar with its figures as text")
    field = "Quantité souhaitée (en pièce(s))"
    s.fill(field, "deux")
    s.submit("Réserver", "lot-erreur", status=400)
    check(s.page.locator("#quantity-erreur").is_visible(), "the quantity's error is beside it")

    # The inventory learns of the verification through events: until then
    # the claim is refused with the page saying why; try again.
    lot_path = s.path()

    def attempt():
        s.fill(field, str(quantity))
        s.fill("Message pour le chantier (facultatif)", f"Enlèvement possible mardi ({prefix})")
        with s.page.expect_navigation() as navigation:
            s.page.get_by_role("button", name="Réserver", exact=True).click()
        if s.path() == "/mes-reservations":
            return navigation.value
        s.goto(lot_path, "lot-encore")
        return None

    response = eventually("the claim accepted", attempt)
    s.seen(response, "mes-reservations", 200)
    row = s.page.get_by_role("row", name=re.compile(re.escape(RADIATORS)))
    check(row.count() == 1, "the claim is listed")
    text = row.inner_text()
    check(f"{quantity} pièce(s)" in text and "réservée, en attente de confirmation" in text,
          f"the claim's quantity and status: {text}")
    s.follow(RADIATORS, "reservation")
    check(s.page.locator("h1").inner_text() == "Réservation" and "Expire le" in s.text(),
          "the claim's own page")
    s.follow("Voir le lot", "lot-reserve")
    legend = s.page.locator(".ledger .legend").inner_text()
    check("réservé" in legend, f"the lot's ledger: {legend}")
    s.close()
    suite.state["claimed"] = suite.state.get("claimed", 0) + quantity


def phone(suite):
    p = suite.person("telephone", phone=True)
    p.sign_in(suite.needs("structures")[0], PASSWORD, arrive="/lots")
    p.follow(RADIATORS, "lot")
    field = p.page.get_by_label("Quantité souhaitée (en pièce(s))", exact=True)
    check(field.is_visible(), "the claim form on a phone")
    box = field.bounding_box()
    check(box["x"] >= 0 and box["x"] + box["width"] <= 375, f"the quantity field fits: {box}")
    field.fill("2")
    p.submit("Réserver", "mes-reservations")
    check(p.path() == "/mes-reservations", f"claimed from a phone: {p.path()}")
    suite.state["claimed"] = suite.state.get("claimed", 0) + 2
    p.goto("/structure", "structure")
    p.close()
    # The other roles' lists too.
    a = suite.person("telephone-admin", phone=True)
    a.sign_in(suite.up.email("ADMIN"), suite.up.password, arrive="/partenaires")
    a.close()
    m = suite.person("telephone-gestionnaire", phone=True)
    m.sign_in(suite.up.email("SITE_MANAGER"), suite.up.password, arrive="/chantiers")
    m.follow(DEMO_SITE, "chantier")
    m.close()


def site_manager(suite):
    m = suite.person("gestionnaire")
    m.sign_in(suite.up.email("SITE_MANAGER"), suite.up.password, arrive="/chantiers")
    headings = m.page.locator("main h2").all_inner_texts()
    for name in (DEMO_SITE, NEAR_SITE, FAR_SITE):
        check(name in headings, f"{name} among the manager's sites: {headings}")
    m.follow(DEMO_SITE, "chantier")
    check(m.page.locator("h1").inner_text() == DEMO_SITE, "the site's page")
    statuses = m.page.get_by_role("navigation", name="Lots par statut").get_by_role("link").all_inner_texts()
    check(statuses == ["Brouillons (1)", "Publiés (9)"], f"lots by status: {statuses}")
    check(m.page.locator("main h2").first.inner_text() == "Brouillons (1)", "the drafts first")
    asbestos = m.page.locator(".cards > li").filter(has_text="amiante")
    check(asbestos.count() == 1 and asbestos.get_by_role("button").count() == 0,
          "the asbestos tiles: a warning, no publish button")
    m.follow("Publiés (9)", "chantier-publies")
    bars = m.page.locator("svg.bar[role=img]")
    check(bars.count() == 9, f"a ledger bar per lot: {bars.count()}")
    card = m.page.locator(".cards > li").filter(has=m.page.get_by_role("link", name=RADIATORS, exact=True))
    claimed = suite.state.get("claimed", 0)
    label = card.locator("svg.bar").get_attribute("aria-label")
    # The demo hands 120 of the 410 radiators over to the Atelier Réemploi Coteaux.
    check(label == f"{410 - 120 - claimed} pièce(s) disponible, {claimed} pièce(s) réservé, 120 pièce(s) remis",
          f"the radiators' ledger shows the claims: {label}")
    width = float(card.locator("rect.reserved").get_attribute("width"))
    check(abs(width - 1000 * claimed / 410) < 1.01, f"the reserved part of the bar is {width}/1000")
    # A draft of another site, published with its button.
    m.goto("/chantiers", "chantiers")
    m.follow(NEAR_SITE, "chantier-brouillon")
    m.submit(f"Publier {DRAFT_LOT}", "chantier-publie")
    nav = m.page.get_by_role("navigation", name="Lots par statut")
    statuses = nav.get_by_role("link").all_inner_texts()
    check(not any(t.startswith("Brouillons") for t in statuses), f"no draft left: {statuses}")
    with m.page.expect_navigation() as navigation:
        nav.get_by_role("link", name=re.compile("^Publiés")).click()
    m.seen(navigation.value, "chantier-publie-publies", 200)
    published = m.page.locator("section").filter(has=m.page.get_by_role("heading", name=re.compile("^Publiés")))
    check(published.get_by_role("link", name=DRAFT_LOT, exact=True).count() == 1, "the draft is published")
    m.close()


def notifications(suite):
    """The site told of the structures' claims, a structure of its verification."""
    m = suite.person("gestionnaire-notifications")
    m.sign_in(suite.up.email("SITE_MANAGER"), suite.up.password, arrive="/chantiers")

    def told():
        m.goto("/notifications", "notifications")
        return m.page.locator(".notifications li").filter(has_text=f"Nouvelle réservation : {RADIATORS}").count() >= 2
    eventually("both structures' claims told to the site", told)
    badge = m.page.locator("#non-lues")
    check(badge.is_visible() and int(badge.inner_text()) >= 2, f"the header's badge: {badge.inner_text()}")
    item = m.page.locator(".notifications li").filter(has_text="Nouvelle réservation").first
    check("Atelier Réemploi test" in item.inner_text(), f"who claimed: {item.inner_text()}")
    m.submit("Tout marquer comme lu", "notifications-lues")
    check(m.path() == "/notifications" and "Tout est lu." in m.text(), "all read")
    check(m.page.locator("#non-lues").is_hidden(), "no badge once all is read")
    check(m.page.locator(".notifications li.unread").count() == 0, "nothing shown unread")
    m.close()
    # Without JavaScript: the list and the form, no badge.
    s = suite.person("structure-notifications-sans-js", js=False)
    s.sign_in(suite.needs("structures")[0], PASSWORD, arrive="/lots")
    s.goto("/notifications", "notifications-structure")
    check(s.page.locator(".notifications li").filter(has_text="Votre structure est vérifiée").count() == 1,
          "the structure was told of its verification")
    check(s.page.locator("#non-lues").is_hidden(), "no script, no badge")
    s.submit("Tout marquer comme lu", "notifications-structure-lues")
    check("Tout est lu." in s.text(), "all read without a script")
    s.close()


def cookies(suite):
    c = suite.person("cookies")
    c.goto("/connexion", "connexion")
    before = c.cookie("reemploi_csrf")
    check(before is not None, "the sign-in form's CSRF cookie")
    c.sign_in(suite.up.email("PARTNER"), suite.up.password, arrive="/lots")
    session = c.cookie("reemploi_session")
    check(session is not None, "a session cookie")
    for cookie in (before, session):
        check(cookie["httpOnly"], f"{cookie['name']} is HttpOnly")
        check(cookie["sameSite"] == "Lax", f"{cookie['name']} is SameSite={cookie['sameSite']}")
        check(cookie["path"] == "/", f"{cookie['name']} has path {cookie['path']}")
        check(not cookie["secure"], "plain http here: not Secure")
    check(c.page.evaluate("document.cookie") == "", "the page's script reads no cookie")
    check(c.cookie("reemploi_csrf") is None, "the pre-session CSRF cookie is dropped at sign-in")
    opened = sealed.open_session(suite.up.key, session["value"])
    check(opened["account"]["email"] == suite.up.email("PARTNER"), "the cookie opens with the key")
    check(opened["access_token"] not in session["value"] and "eyJ" not in session["value"],
          "no token in clear")
    c.close()


def sessions(suite):
    up = suite.up
    email = suite.needs("structures")[0]
    # Absent: sign-in, then back to the page asked for, query and all.
    s = suite.person("session")
    s.goto("/mes-reservations?ordre=recent", "sans-session")
    check(s.path() == "/connexion?next=%2Fmes-reservations%3Fordre%3Drecent", f"sent to sign in: {s.path()}")
    s.sign_in(email, PASSWORD, label="connexion-retour", arrive="/mes-reservations?ordre=recent")
    check(s.page.locator("h1").inner_text() == "Mes réservations", "back on the page asked for")
    key = up.key

    def set_session(value):
        s.context.add_cookies([{"name": "reemploi_session", "value": value, "url": up.web,
                                "httpOnly": True, "sameSite": "Lax"}])

    # An access token past its time with a live refresh token: renewed
    # silently, the page shows, the cookie holds the new tokens.
    live = s.cookie("reemploi_session")["value"]
    old = sealed.open_session(key, live)
    set_session(sealed.seal_session(key, dict(old, access_expires=0)))
    s.goto("/mes-reservations", "session-renouvelee")
    check(s.path() == "/mes-reservations", f"a renewed session stays: {s.path()}")
    renewed = sealed.open_session(key, s.cookie("reemploi_session")["value"])
    check(renewed["access_expires"] > time.time() + 60, "a fresh access token")
    check(renewed["refresh_token"] != old["refresh_token"], "the refresh token was rotated")
    check(renewed["csrf"] == old["csrf"], "open forms stay valid")
    # Ended for good: signed out (its refresh token revoked), then a copy of
    # the cookie comes back once its access token has expired: sign-in, and
    # back to the page asked for.
    s.goto("/mes-reservations", "mes-reservations")
    s.sign_out()
    set_session(sealed.seal_session(key, dict(renewed, access_expires=0)))
    s.goto("/structure", "session-expiree")
    check(s.path() == "/connexion?next=%2Fstructure", f"an ended session goes to sign in: {s.path()}")
    check(s.cookie("reemploi_session") is None, "the dead session's cookie is cleared")
    s.sign_in(email, PASSWORD, label="connexion-apres-expiration", arrive="/structure")
    # A cookie that does not open (altered, or another key's) is no session.
    value = s.cookie("reemploi_session")["value"]
    set_session(value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    s.goto("/chantiers", "session-alteree")
    check(s.path() == "/connexion?next=%2Fchantiers", f"an altered cookie goes to sign in: {s.path()}")
    set_session(sealed.seal_session(bytes(32), old))
    s.goto("/lots", "session-autre-cle")
    check(s.path() == "/connexion?next=%2Flots", f"another key's cookie goes to sign in: {s.path()}")
    s.close()


def password_reset(suite):
    """A structure that forgot its password gets a link by mail and sets another."""
    email = suite.needs("structures")[0]
    p = suite.person("mot-de-passe")
    p.goto("/connexion", "connexion")
    p.follow("Mot de passe oublié ?", "oublie")
    answers = []
    for address in ("personne@nulle-part.example", email):
        p.goto("/mot-de-passe/oublie", "oublie")
        p.fill("Adresse électronique", address)
        p.submit("Envoyer le lien", "oublie-envoye")
        answers.append(p.page.get_by_role("status").inner_text())
    check(answers[0] == answers[1] and "Si un compte existe" in answers[0],
          f"the same answer whether the address has an account or not: {answers}")
    link = suite.up.mailed_link(email, "/mot-de-passe/nouveau")
    p.goto(link, "nouveau")
    p.fill("Nouveau mot de passe", "court")
    p.submit("Enregistrer le mot de passe", "nouveau-erreur", status=400)
    check(p.page.locator("#password-erreur").is_visible(), "the password's error is beside it")
    p.fill("Nouveau mot de passe", NEW_PASSWORD)
    p.submit("Enregistrer le mot de passe", "nouveau-enregistre")
    check(p.page.get_by_role("status").filter(has_text="mot de passe est changé").count() == 1, "done")
    p.follow("Se connecter", "connexion-apres-changement")
    p.sign_in(email, PASSWORD, label="ancien-mot-de-passe", status=401)
    p.sign_in(email, NEW_PASSWORD, arrive="/lots")
    p.close()


def main():
    require_axe()
    prepare_screenshots()
    started = time.monotonic()
    up = Up()
    ok = False
    try:
        with sync_playwright() as playwright:
            suite = Suite(playwright, up)
            suite.run("sites made with the CLI for the tests", lambda: setup_sites(suite))
            suite.run("a visitor", lambda: visitor(suite))
            suite.run("the first admin accepts the invitation up printed", lambda: first_admin(suite))
            suite.run("a structure signs up, is verified, finds a lot and claims it",
                      lambda: structure_journey(suite, 1, js=True))
            suite.run("the same with JavaScript disabled", lambda: structure_journey(suite, 2, js=False))
            suite.run("a structure's filters, map, cancellations, recommendations, profile", lambda: partner_pages.run(suite))
            suite.run("a phone: the lot list and the claim form", lambda: phone(suite))
            suite.run("the site manager: sites, lots by status, ledgers, publishing", lambda: site_manager(suite))
            suite.run("notifications: the site told of claims, a structure of its verification",
                      lambda: notifications(suite))
            manager_pages.run(suite)
            figures_pages.run(suite)
            suite.run("the site manager imports a diagnostic, previewed, as drafts", lambda: imports.run(suite))
            suite.run("cookies: HttpOnly, SameSite=Lax", lambda: cookies(suite))
            suite.run("sessions: absent, renewed, expired, altered", lambda: sessions(suite))
            suite.run("a forgotten password, reset with the mailed link", lambda: password_reset(suite))
            suite.browser.close()
            ok = suite.report()
    finally:
        try:
            up.stop()
        except Failure as e:
            print(f"FAILED: {e}")
            ok = False
    print(f"({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
