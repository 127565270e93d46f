"""The site manager's lot page and the admin's accounts page, in the
browser (run by journey.py after the structures' claims):

- the site manager opens the demo radiators, sees each claim by its
  structure's name and matching's proposals with their score breakdown,
  confirms the first structure's claim of 5, is refused a mass it cannot
  read, records the hand-over with the weighed mass (the claim of 5 in two
  trips: 2 radiators, then the 3 left); the ledger shows it handed over,
  each trip's receipt (bon d'enlèvement) opens as a page to print, the
  site's plan page shows its totals;
- the structure sees its claim handed over, with the weighed mass, and
  opens its receipt;
- a new site made and edited with the form;
- the admin's accounts page: an invitation sent.
"""

import re

from harness import check

RADIATORS = "Radiateurs fonte à colonnes"
DEMO_SITE = "Coteaux – démolition tour A"
PASSWORD = "un mot de passe assez long pour le test"


def click_in(person, scope, button, label, status=200):
    """Clicks the button inside `scope` (a locator) whose accessible name
    starts with `button` (it goes on to name the claim), waits for the page."""
    name = re.compile("^" + re.escape(button))
    with person.page.expect_navigation() as navigation:
        scope.get_by_role("button", name=name).click()
    person.seen(navigation.value, label, status)


def published(person):
    """Goes from a site's page to its published lots."""
    nav = person.page.get_by_role("navigation", name="Lots par statut")
    with person.page.expect_navigation() as navigation:
        nav.get_by_role("link", name=re.compile("^Publiés")).click()
    person.seen(navigation.value, "chantier-publies", 200)


def handover(suite, js):
    """With JavaScript, the first structure's claim of 5; without, the
    second structure's claim of 3."""
    n, quantity, mass = (1, 5, "152,5") if js else (2, 3, "90")
    structure = f"Atelier Réemploi test {n}"
    suffix = "" if js else "-sans-js"
    m = suite.person(f"gestionnaire-remise{suffix}", js=js)
    m.sign_in(suite.up.email("SITE_MANAGER"), suite.up.password, arrive="/chantiers")
    m.follow(DEMO_SITE, "chantier")
    published(m)
    m.follow(RADIATORS, "lot")
    check(m.page.locator("h1").inner_text() == RADIATORS, "the manager's lot page")
    check(m.page.get_by_role("table", name="Score de chaque structure et ses composantes").count() == 1,
          "matching's proposals with their score breakdown")

    def card():
        return (m.page.locator(".cards > li")
                .filter(has_text=structure).filter(has_text=f"{quantity} pièce(s)"))

    check(card().count() == 1, f"the claim of {quantity} by {structure}: {card().count()}")
    check("réservée" in card().inner_text(), f"reserved first: {card().inner_text()}")
    click_in(m, card(), f"Confirmer : {structure}, {quantity} pièce(s)", "lot-confirme")
    check("confirmée" in card().inner_text(), f"confirmed: {card().inner_text()}")
    field = f"Masse pesée remise à {structure}, {quantity} pièce(s)"
    card().get_by_label(field).fill("douze")
    click_in(m, card(), "Enregistrer la remise", "remise-refusee", status=400)
    check(m.page.get_by_role("alert").count() == 1 and card().locator(".error").is_visible(),
          "the unreadable mass is refused beside its field")
    check(card().get_by_label(field).input_value() == "douze", "what was typed is kept")
    receipt = None
    if js:
        # Two trucks: 2 radiators first, then the 3 left (no quantity).
        card().get_by_label(f"Quantité enlevée par {structure}, {quantity} pièce(s)").fill("2")
        card().get_by_label(field).fill("61")
        click_in(m, card(), "Enregistrer la remise", "lot-premier-passage")
        text = card().inner_text()
        check("Enlevé : 2 pièce(s) sur 5 pièce(s) (1 passage)" in text, f"the first trip: {text}")
        card().get_by_label(field).fill("91,5")
    else:
        card().get_by_label(field).fill(mass)
    click_in(m, card(), "Enregistrer la remise", "lot-remis")
    text = card().inner_text()
    check("enlevée" in text and f"{mass} kg" in text, f"handed over, with its mass: {text}")
    if js:
        links = card().get_by_role("link", name=re.compile("^Bon n° BE-"))
        check(links.count() == 2, f"a receipt per trip: {links.count()}")
        receipt = links.first.get_attribute("href")
        with m.page.expect_navigation() as navigation:
            links.first.click()
        m.seen(navigation.value, "bon-enlevement", 200)
        check(m.page.locator("h1").inner_text().startswith("Bon d'enlèvement n° BE-"), "the receipt's page")
        check("61 kg" in m.text() and structure in m.text() and "Signature du preneur" in m.text(),
              f"the receipt says what left, with whom: {m.text()}")
        m.page.emulate_media(media="print")
        check(not m.page.locator(".site-header").is_visible(), "printed without the site's header")
        m.page.emulate_media(media="screen")
        m.page.go_back()
    legend = m.page.locator(".ledger .legend").inner_text()
    handed = suite.state["handed_over"] = suite.state.get("handed_over", 0) + quantity
    check(f"{handed} pièce(s) remis" in legend, f"the ledger counts it handed over: {legend}")
    m.follow("← Retour au chantier", "chantier-apres-remise")
    m.follow("Plan de répartition", "plan")
    check("Masse répartie" in m.text() and "Optimalité" in m.text(), "the plan's totals")
    m.close()

    s = suite.person(f"structure-remise{suffix}", js=js)
    s.sign_in(suite.needs("structures")[n - 1], PASSWORD, arrive="/lots")
    s.goto("/mes-reservations", "mes-reservations-remise")
    rows = s.page.get_by_role("row", name=re.compile(re.escape(RADIATORS)))
    texts = rows.all_inner_texts()
    check(any(f"{quantity} pièce(s)" in t and "enlevée" in t for t in texts),
          f"the structure sees it handed over: {texts}")
    if receipt:
        s.goto(receipt, "bon-enlevement-structure")
        check("61 kg" in s.text(), f"the structure reads its receipt: {s.text()}")
    s.close()


def new_site(suite):
    m = suite.person("gestionnaire-nouveau-chantier")
    m.sign_in(suite.up.email("SITE_MANAGER"), suite.up.password, arrive="/chantiers")
    m.follow("Nouveau chantier", "nouveau-chantier")
    m.fill("Nom du chantier", "Bourtzwiller – réhabilitation")
    m.fill("Quartier", "Bourtzwiller")
    m.fill("Commune", "Mulhouse")
    m.fill("Latitude (degrés décimaux)", "plein nord")
    m.fill("Longitude (degrés décimaux)", "7.3290")
    m.submit("Enregistrer", "nouveau-chantier-erreur", status=400)
    check(m.page.locator("#latitude-erreur").is_visible(), "the latitude's error is beside it")
    m.fill("Latitude (degrés décimaux)", "47.7700")
    m.submit("Enregistrer", "chantier-cree")
    check(m.page.locator("h1").inner_text() == "Bourtzwiller – réhabilitation", "the new site's page")
    m.follow("Modifier le chantier", "chantier-modifier")
    m.fill("Nom du chantier", "Bourtzwiller – réhabilitation lot 2")
    m.submit("Enregistrer", "chantier-modifie")
    check(m.page.locator("h1").inner_text() == "Bourtzwiller – réhabilitation lot 2", "renamed")
    m.close()


def accounts(suite):
    a = suite.person("admin-comptes")
    a.sign_in(suite.up.email("ADMIN"), suite.up.password, arrive="/partenaires")
    a.follow("Comptes", "comptes")
    check(a.page.get_by_role("row", name=re.compile(re.escape(suite.up.email("SITE_MANAGER")))).count() == 1,
          "the demo site manager is listed")
    a.fill("Adresse électronique", "nouvelle@bailleur.example")
    a.page.get_by_label("Rôle", exact=True).select_option(label="responsable de chantier")
    a.fill("Organisation (pour un·e responsable de chantier)", "bailleur-test")
    a.submit("Envoyer l'invitation", "invitation-envoyee")
    check("Invitation envoyée à nouvelle@bailleur.example" in a.text(), "the invitation is sent")
    a.close()


def run(suite):
    suite.run("the site manager confirms a claim and records its hand-over",
              lambda: handover(suite, js=True))
    suite.run("the same without JavaScript", lambda: handover(suite, js=False))
    suite.run("the site manager makes and edits a site", lambda: new_site(suite))
    suite.run("the admin invites a site manager", lambda: accounts(suite))
