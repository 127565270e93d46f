"""Browser journey of the partner section's newer pages, run by journey.py
after the structure journeys (it needs the sites setup_sites made).

A structure of its own signs up and registers: while it is pending, the
banner shows on the lots' map, the recommendations and its claims. The
demo admin verifies it. It then filters the lots (family, distance, a bad
distance shown beside its field) with a GET form, switches to the map,
opens a lot from its point on the map, claims it with a pick-up window (a
window ending before it starts refused first), cancels that claim from its
page and a second one from the list, reads its recommendations with their
scores, and edits its profile (a radius the registry refuses shown beside
its field). Then the filters without JavaScript, and the same pages on a
phone, which never scroll sideways.
"""

import re

from harness import check, eventually, siret

PASSWORD = "une phrase de passe pour les pages partenaire"
LEGAL = "Recyclerie test des pages partenaire"
EMAIL = "equipe@recyclerie-pages.example"
# 1.4 km from the demo site, as the structures of journey.py.
HOME = ("47,7480", "7.3200")
RADIATORS = "Radiateurs fonte à colonnes"
NEAR_LOT = "Portes palières bois (test, près)"
FAR_LOT = "Lavabos céramique (test, loin)"
RADIUS = "Rayon d'intervention (km, de 1 à 200)"
QUANTITY = "Quantité souhaitée (en pièce(s))"


def banner(person):
    return person.page.get_by_role("status").filter(has_text="attend la vérification").count()


def signed_up(suite):
    """The structure signs up and describes itself; pending."""
    s = suite.person("partenaire")
    s.goto("/inscription", "inscription")
    s.fill("Nom de la structure", LEGAL)
    s.fill("Votre nom", "Alix")
    s.fill("Adresse électronique", EMAIL)
    s.fill("Mot de passe", PASSWORD)
    s.submit("Créer le compte", "structure-formulaire")
    check(s.path() == "/structure", f"sign-up goes on to the structure's form, not {s.path()}")
    s.fill("Raison sociale", LEGAL)
    s.fill("SIRET (14 chiffres)", siret("8123456780901"))
    s.page.get_by_label("Type de structure", exact=True).select_option(label="Ressourcerie ou recyclerie")
    s.fill("Adresse", "5 rue de la Doller")
    s.fill("Code postal", "68100")
    s.fill("Commune", "Mulhouse")
    s.fill("Latitude (degrés décimaux)", HOME[0])
    s.fill("Longitude (degrés décimaux)", HOME[1])
    s.fill(RADIUS, "15")
    s.fill("Capacité d'accueil par semaine (kg)", "8000")
    for category in ("Radiateur", "Porte intérieure"):
        s.page.get_by_role("checkbox", name=category, exact=True).check()
    s.fill("Courriel de contact", EMAIL)
    s.submit("Enregistrer la structure", "structure-enregistree")
    check(s.page.locator("h1").inner_text() == "Ma structure", "the structure's profile")
    check(banner(s) == 1, "the pending banner on the profile")
    return s


def pending_pages(s):
    for path, label in (("/lots?vue=carte", "carte-en-attente"), ("/recommandations", "recommandations-en-attente"),
                        ("/mes-reservations", "reservations-en-attente")):
        s.goto(path, label)
        check(banner(s) == 1, f"the pending banner on {path}")
        if path == "/recommandations":
            check("une fois votre structure vérifiée" in s.text(), "recommendations wait for the verification")


def verified_by_the_admin(suite):
    a = suite.person("admin-pages-partenaire")
    a.sign_in(suite.up.email("ADMIN"), suite.up.password, arrive="/partenaires")
    a.submit(f"Vérifier {LEGAL}", "partenaires-verifiee")
    row = a.page.get_by_role("row", name=re.compile(re.escape(LEGAL)))
    check("vérifiée" in row.inner_text(), f"the structure shows verified: {row.inner_text()}")
    a.close()


def lot_names(s):
    return s.page.locator("tbody th").all_inner_texts()


def filters(s):
    s.goto("/lots", "lots-filtres")
    check(banner(s) == 0, "no pending banner once verified")
    everything = lot_names(s)
    check({RADIATORS, NEAR_LOT, FAR_LOT} <= set(everything), f"every lot within 15 km: {everything}")
    check(s.page.get_by_label("Distance maximale (km)", exact=True).input_value() == "15",
          "the distance defaults to the structure's radius")
    s.page.get_by_label("Famille de matériaux", exact=True).select_option(label="Chauffage")
    s.submit("Filtrer", "lots-chauffage")
    check("famille=chauffage" in s.path(), f"the filters are a GET form: {s.path()}")
    names = lot_names(s)
    check(RADIATORS in names and NEAR_LOT not in names and FAR_LOT not in names,
          f"heating only: {names}")
    s.page.get_by_label("Famille de matériaux", exact=True).select_option(label="Toutes les familles")
    s.fill("Distance maximale (km)", "3")
    s.submit("Filtrer", "lots-3-km")
    names = lot_names(s)
    check(NEAR_LOT in names and RADIATORS in names and FAR_LOT not in names, f"within 3 km: {names}")
    s.fill("Distance maximale (km)", "900")
    s.submit("Filtrer", "lots-distance-erreur")
    check(s.page.locator("#rayon-erreur").is_visible(), "the distance's error is beside it")
    check(FAR_LOT in lot_names(s), "a distance that cannot be used is left out")


def the_map(s):
    s.goto("/lots", "lots-liste")
    s.follow("Carte", "lots-carte")
    check("vue=carte" in s.path(), f"the map is a view of the same page: {s.path()}")
    svg = s.page.locator("svg.map-drawing")
    check(svg.count() == 1 and svg.get_attribute("aria-label").startswith("Carte du territoire"),
          "one map, with its accessible name")
    listed = s.page.locator(".map-list a[href^='/lots/']")
    points = s.page.locator("svg.map-drawing a[href^='/lots/']")
    check(listed.count() == points.count() >= 3, f"a point per lot listed: {points.count()} / {listed.count()}")
    check(s.page.get_by_role("link", name=RADIATORS, exact=True).count() == 2, "the lot's point and its line")
    legend = s.page.locator(".map-legend").inner_text()
    check("Commune" in legend and "Chantier" in legend, f"the legend: {legend}")
    check(s.page.locator("svg.map-drawing text", has_text="Mulhouse").count() >= 1, "the communes are named")
    href = s.page.locator(".map-list a", has_text=NEAR_LOT).get_attribute("href")
    with s.page.expect_navigation() as navigation:
        s.page.locator(f"svg.map-drawing a[href='{href}']").click()
    s.seen(navigation.value, "lot-depuis-la-carte", 200)
    check(s.page.locator("h1").inner_text() == NEAR_LOT, "the map's point leads to the lot's page")
    return href


def claim_and_cancel(s, lot):
    # A window that ends before it starts is refused; the inventory learns
    # of the verification through events, so the claim is tried again.
    s.fill(QUANTITY, "1")
    s.fill("À partir du", "2096-10-05")
    s.fill("Jusqu'au (inclus)", "2096-10-03")
    s.submit("Réserver", "lot-fenetre-erreur", status=400)
    check(s.page.locator("#pickup_until-erreur").is_visible(), "the window's error is beside it")

    def attempt():
        s.fill(QUANTITY, "1")
        s.fill("À partir du", "2096-10-05")
        s.fill("Jusqu'au (inclus)", "2096-10-06")
        with s.page.expect_navigation() as navigation:
            s.page.get_by_role("button", name="Réserver", exact=True).click()
        if s.path() == "/mes-reservations":
            return navigation.value
        s.goto(lot, "lot-encore")
        return None

    s.seen(eventually("the claim accepted", attempt), "reservations-fenetre", 200)
    s.follow(NEAR_LOT, "reservation-fenetre")
    check("du 05/10/2096 au 06/10/2096" in s.text(), "the claim's pick-up window")
    s.fill("Motif pour le chantier (facultatif)", "Finalement plus besoin")
    s.submit("Annuler la réservation", "reservation-annulee")
    check("annulée" in s.text(), "the claim is cancelled")
    check(s.page.get_by_role("button", name="Annuler la réservation").count() == 0, "nothing left to cancel")
    # A second claim, cancelled from the list.
    s.goto(lot, "lot-deuxieme")
    s.fill(QUANTITY, "2")
    s.submit("Réserver", "reservations-deuxieme")
    # The list's button names the lot, the quantity and when it was claimed.
    named = re.compile(rf"^Annuler la réservation : {re.escape(NEAR_LOT)}, 2 pièce\(s\), réservée le ")
    cancel = s.page.get_by_role("button", name=named)
    check(cancel.count() == 1, "one cancel button for the open claim, named by it")
    with s.page.expect_navigation() as navigation:
        cancel.click()
    s.seen(navigation.value, "reservations-annulee", 200)
    check(s.path() == "/mes-reservations", f"back to the list: {s.path()}")
    rows = s.page.get_by_role("row", name=re.compile(re.escape(NEAR_LOT))).all_inner_texts()
    check(len(rows) == 2 and all("annulée" in r for r in rows), f"both claims cancelled: {rows}")


def recommendations(s):
    def ranked():
        s.goto("/recommandations", "recommandations")
        return RADIATORS in lot_names(s)

    eventually("the radiators recommended", ranked)
    heads = s.page.locator("thead th").all_inner_texts()
    for head in ("Score", "Distance", "Catégorie", "Proximité", "Capacité", "Urgence", "Insertion"):
        check(head in heads, f"{head} among the columns: {heads}")
    scores = s.page.locator("td.score").all_inner_texts()
    check(scores and all(re.fullmatch(r"\d{1,3} %", t) for t in scores), f"scores in percent: {scores}")
    s.follow(RADIATORS, "recommandation-lot")
    check(s.page.locator("h1").inner_text() == RADIATORS, "a recommendation leads to its lot")


def profile(s):
    s.goto("/structure", "profil")
    check(s.page.get_by_label(RADIUS, exact=True).input_value() == "15", "the form shows the profile")
    s.fill(RADIUS, "500")
    s.submit("Enregistrer les modifications", "profil-erreur", status=400)
    check(s.page.locator("#service_radius_km-erreur").is_visible(), "the radius's error is beside it")
    s.fill(RADIUS, "16")
    s.fill("Téléphone de contact", "03 89 11 22 33")
    s.submit("Enregistrer les modifications", "profil-enregistre")
    check(s.page.get_by_role("status").filter(has_text="modifications sont enregistrées").count() == 1, "saved")
    check(s.page.get_by_label(RADIUS, exact=True).input_value() == "16", "the new radius")
    s.fill(RADIUS, "15")
    s.submit("Enregistrer les modifications", "profil-retabli")


def without_script(suite):
    n = suite.person("partenaire-sans-js", js=False)
    n.sign_in(EMAIL, PASSWORD, arrive="/lots")
    n.page.get_by_label("Famille de matériaux", exact=True).select_option(label="Menuiserie")
    n.submit("Filtrer", "lots-menuiserie")
    names = lot_names(n)
    check(NEAR_LOT in names and RADIATORS not in names, f"joinery only, without script: {names}")
    n.follow("Carte", "lots-carte")
    check(n.page.locator("svg.map-drawing a[href^='/lots/']").count() >= 1, "the map without script")
    n.close()


def phone(suite):
    p = suite.person("partenaire-telephone", phone=True)
    p.sign_in(EMAIL, PASSWORD, arrive="/lots")
    for path, label in (("/lots?vue=carte", "carte"), ("/recommandations", "recommandations"),
                        ("/mes-reservations", "reservations"), ("/structure", "profil")):
        p.goto(path, label)
        if label == "carte":
            box = p.page.locator("svg.map-drawing").bounding_box()
            check(box["x"] >= 0 and box["x"] + box["width"] <= 375, f"the map fits a phone: {box}")
    p.close()


def run(suite):
    s = signed_up(suite)
    pending_pages(s)
    verified_by_the_admin(suite)
    filters(s)
    lot = the_map(s)
    claim_and_cancel(s, lot)
    recommendations(s)
    profile(s)
    s.close()
    without_script(suite)
    phone(suite)
