"""Contact search, lead inbox and a contact's timeline with 1,000,000 contacts, 1,000,000 leads and 3,000,000
activities on Postgres: seeds once with generate_series (kept for re-runs), then measures each query through
the app in process (ASGI, API key) and prints p50/p95 per kind. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST = ["Anna", "Bram", "Daan", "Emma", "Eva", "Fleur", "Sanne", "Lotte", "Lisa", "Julia", "Sophie", "Noa",
         "Tess", "Sara", "Iris", "Anouk", "Femke", "Lieke", "Maud", "Roos", "Jesse", "Lucas", "Milan", "Sem",
         "Thijs", "Ruben", "Stijn", "Luuk", "Tim", "Lars", "Bas", "Joost", "Koen", "Pieter", "Jeroen", "Martijn",
         "Niels", "Sander", "Wouter", "Mark", "Marieke", "Esther", "Ingrid", "Karin", "Monique", "Petra", "Yvonne",
         "Kevin", "Dennis", "Robin", "Mohamed", "Fatima", "Yusuf", "Aylin", "Priya", "Chen", "Olga", "Marta",
         "Jan", "Kees"]
LAST = ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
        "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
        "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden", "Kok", "Jacobs",
        "de Haan", "Vermeulen", "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "de Bruin",
        "van der Heijden", "Schouten", "van Beek", "Willems", "van Vliet", "van de Ven", "Hoekstra", "Maas",
        "Verhoeven", "Koster", "van Dam", "van der Wal", "Prins", "Blom", "Huisman", "Peeters", "de Koning",
        "Yilmaz", "El Amrani", "Kaya", "Nguyen", "Wang", "Kowalski", "Schmidt", "Rossi", "Haverkamp",
        "Oosterhuis", "Zwart", "Postma", "Kuipers", "Veenstra", "Kramer", "van den Bosch", "Gerritsen", "Timmermans"]
OWNERS = 12
TEAMS = ["wedding_specialists", "corporate", "private_parties"]


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


SEED_CONTACTS = f"""
INSERT INTO contacts (tenant_id, first_name, last_name, email, phone, marketing_opt_in, owner, created_at, updated_at)
SELECT %(t)s, f, l,
       lower(f) || '.' || replace(lower(l), ' ', '') || g || '@example.nl',
       CASE WHEN g %% 10 = 0 THEN NULL ELSE '+316' || lpad((10000000 + g * 37 %% 89999999)::text, 8, '0') END,
       g %% 3 = 0, 'staff' || (g %% {OWNERS}) || '@mr-dj.nl',
       now() - make_interval(secs => g * 30), now() - make_interval(secs => g * 30)
FROM generate_series(1::bigint, %(n)s) AS g,
     LATERAL (SELECT ({_array(FIRST)})[1 + (g * 7919) %% {len(FIRST)}] AS f,
                     ({_array(LAST)})[1 + (g * 104729 / 7) %% {len(LAST)}] AS l) AS names
"""
# One lead per contact; 10 % new, the rest spread over the later statuses, 5 % spam.
SEED_LEADS = f"""
INSERT INTO leads (tenant_id, contact_id, status, source, event_type, guests, priority, team, owner, flags, utm,
                   message, created_at, updated_at)
SELECT c.tenant_id, c.id,
       CASE WHEN c.id %% 20 < 2 THEN 'new' WHEN c.id %% 20 < 6 THEN 'contacted' WHEN c.id %% 20 < 10 THEN 'qualified'
            WHEN c.id %% 20 < 14 THEN 'converted' WHEN c.id %% 20 < 19 THEN 'lost' ELSE 'spam' END,
       'website_form', (ARRAY['bruiloft', 'bedrijfsfeest', 'verjaardag', 'jubileum', 'gala'])[1 + c.id %% 5],
       50 + c.id %% 200, CASE WHEN c.id %% 7 = 0 THEN 'high' ELSE 'normal' END,
       ({_array(TEAMS)})[1 + c.id %% {len(TEAMS)}], 'staff' || (c.id * 13 %% {OWNERS}) || '@mr-dj.nl',
       '[]'::jsonb, '{{}}'::jsonb, 'benchmark lead', c.created_at, c.created_at
FROM contacts c WHERE c.tenant_id = %(t)s
"""
# Three activities per contact on average, not evenly: contact k gets about 3 of them, scattered in time.
SEED_ACTIVITIES = f"""
INSERT INTO activities (tenant_id, kind, contact_id, title, body, due_at, owner, team, status, created_at, updated_at)
SELECT %(t)s, CASE WHEN g %% 3 = 0 THEN 'task' ELSE 'note' END,
       %(first)s + (g * 7 %% %(contacts)s), CASE WHEN g %% 3 = 0 THEN 'Call back' ELSE 'Spoke on the phone' END,
       'benchmark', CASE WHEN g %% 3 = 0 THEN now() + make_interval(hours => (g %% 500)::int) END,
       'staff' || (g %% {OWNERS}) || '@mr-dj.nl', ({_array(TEAMS)})[1 + g %% {len(TEAMS)}],
       CASE WHEN g %% 3 = 0 AND g %% 2 = 0 THEN 'open' WHEN g %% 3 = 0 THEN 'done' ELSE 'open' END,
       now() - make_interval(secs => g * 10), now() - make_interval(secs => g * 10)
FROM generate_series(1::bigint, %(n)s) AS g
"""


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def prepare(url: str, contacts: int, activities: int) -> tuple[int, str]:
    """Create, migrate and seed when needed (the seed is kept). Returns the tenant id and a fresh API key."""
    from bench._setup import prepare_database

    prepare_database(url)
    key = asyncio.run(_tenant_and_key())
    with psycopg.connect(plain(url), autocommit=True) as conn:
        tenant = conn.execute("SELECT id FROM tenants WHERE slug = 'mrdj'").fetchone()
        assert tenant is not None
        have = conn.execute("SELECT (SELECT count(*) FROM contacts WHERE tenant_id = %(t)s), "
                            "(SELECT count(*) FROM activities WHERE tenant_id = %(t)s)", {"t": tenant[0]}).fetchone()
        if have != (contacts, activities):
            started = time.perf_counter()
            for table in ("activities", "leads", "contacts"):
                conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (tenant[0],))
            conn.execute(SEED_CONTACTS, {"t": tenant[0], "n": contacts})
            conn.execute(SEED_LEADS, {"t": tenant[0]})
            first = conn.execute("SELECT min(id) FROM contacts WHERE tenant_id = %s", (tenant[0],)).fetchone()
            assert first is not None
            conn.execute(SEED_ACTIVITIES, {"t": tenant[0], "n": activities, "first": first[0], "contacts": contacts})
            conn.execute("VACUUM ANALYZE contacts")
            conn.execute("VACUUM ANALYZE leads")
            conn.execute("VACUUM ANALYZE activities")
            print(f"seeded {contacts} contacts, {contacts} leads, {activities} activities in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    return int(tenant[0]), key


async def _tenant_and_key() -> str:
    from rentguy_crm.auth import service as keys
    from rentguy_crm.db import one_off_session
    from rentguy_crm.provisioning import provision_tenant
    from rentguy_crm.tenants import repository
    from rentguy_crm.tenants.config import load_config

    async with one_off_session() as session:
        tenant = await repository.by_slug(session, "mrdj")
        if tenant is None:
            await provision_tenant(session, load_config(ROOT / "configs" / "tenants" / "mrdj.json"), actor="bench")
            tenant = await repository.get(session, "mrdj")
        _key, raw = await keys.create_key(session, tenant, name="search-bench", roles=["sales"], actor="bench")
    return raw


def sample_queries(url: str, tenant: int, rounds: int) -> dict[str, list[str]]:
    """Query strings per kind, built from random seeded people so each search has real answers."""
    rng = random.Random(16)
    with psycopg.connect(plain(url)) as conn:
        low, high = conn.execute("SELECT min(id), max(id) FROM contacts WHERE tenant_id = %s", (tenant,)).fetchone()
        people = []
        while len(people) < rounds:
            found = conn.execute("SELECT id, first_name, last_name, email, phone FROM contacts WHERE id = %s",
                                 (rng.randint(low, high),)).fetchone()
            if found is not None and found[4] is not None:
                people.append(found)
    queries: dict[str, list[str]] = {kind: [] for kind in (
        "name: full name, partial", "name: surname only", "name: fragment", "phone: +31 6 1234 5678",
        "phone: 06-12345678", "phone: 0031612345678", "phone: last 6 digits", "e-mail: whole address",
        "e-mail: partial", "lead inbox: new", "lead inbox: owner + contacted", "lead inbox: team + qualified",
        "lead inbox: page 40 (keyset)", "timeline: a contact's activities",
        "floor: the pipelines (a few rows)")}
    base = "/api/v1/crm"
    for i, (contact_id, first, last, email, phone) in enumerate(people):
        national = "0" + phone[3:]
        queries["name: full name, partial"].append(f"{base}/contacts?q={first} {last[:-2]}")
        queries["name: surname only"].append(f"{base}/contacts?q={last}")
        queries["name: fragment"].append(f"{base}/contacts?q={last[1:5] if len(last) >= 5 else last}")
        queries["phone: +31 6 1234 5678"].append(f"{base}/contacts?q={phone[:3]} {phone[3]} {phone[4:8]} {phone[8:]}")
        queries["phone: 06-12345678"].append(f"{base}/contacts?q={national[:2]}-{national[2:]}")
        queries["phone: 0031612345678"].append(f"{base}/contacts?q=00{phone[1:]}")
        queries["phone: last 6 digits"].append(f"{base}/contacts?q={phone[-6:]}")
        queries["e-mail: whole address"].append(f"{base}/contacts?q={email}")
        queries["e-mail: partial"].append(f"{base}/contacts?q={email.split('@')[0][-9:]}")
        staff = f"staff{i % OWNERS}@mr-dj.nl"
        queries["lead inbox: new"].append(f"{base}/leads?status=new")
        queries["lead inbox: owner + contacted"].append(f"{base}/leads?status=contacted&owner={staff}")
        queries["lead inbox: team + qualified"].append(f"{base}/leads?status=qualified&team={TEAMS[i % 3]}")
        queries["lead inbox: page 40 (keyset)"].append(f"{base}/leads?status=new")  # followed 40 pages deep
        queries["timeline: a contact's activities"].append(f"{base}/activities?contact_id={contact_id}")
        # What any request costs on this machine right now: the line the others are read against.
        queries["floor: the pipelines (a few rows)"].append(f"{base}/pipelines")
    return queries


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(url: str, key: str, queries: dict[str, list[str]]) -> dict[str, list[float]]:
    os.environ["CRM_DATABASE_URL"] = url
    os.environ["CRM_LOG_LEVEL"] = "WARNING"
    from rentguy_crm.app import create_app
    from rentguy_crm.config import reset_settings_cache

    reset_settings_cache()
    app = create_app()
    timings: dict[str, list[float]] = {kind: [] for kind in queries}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            for path in [paths[0] for paths in queries.values()]:  # warm-up: caches, pool, plans
                (await client.get(path)).raise_for_status()
            for i in range(max(len(paths) for paths in queries.values())):
                for kind, paths in queries.items():  # kinds interleaved, so noise hits them alike
                    deep = kind.startswith("lead inbox: page")
                    path = paths[i]
                    if deep:  # walk 39 pages by cursor first; only the 40th is timed
                        for _ in range(39):
                            page = (await client.get(path)).json()
                            path = f"{paths[i]}&after={page['next']}"
                    started = time.perf_counter()
                    response = await client.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{kind}: {response.status_code} {response.text[:300]}")
                    timings[kind].append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get(
        "CRM_BENCH_SEARCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_search"))
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=3_000_000)
    parser.add_argument("--samples", type=int, default=60, help="queries per kind")
    args = parser.parse_args()
    tenant, key = prepare(args.url, args.contacts, args.activities)
    queries = sample_queries(args.url, tenant, args.samples)
    timings = asyncio.run(measure(args.url, key, queries))
    print(f"search at scale: {args.contacts} contacts and leads, {args.activities} activities, "
          f"{args.samples} queries per kind through the app in process; load average {os.getloadavg()[0]:.2f}")
    worst = 0.0
    for kind, values in timings.items():
        p95 = pct(values, 95)
        worst = max(worst, p95)
        print(f"  {kind:<36} p50 {statistics.median(values):>6.1f} ms  p95 {p95:>6.1f} ms  max {max(values):>6.1f} ms"
              f"{'' if p95 < 50 else '   OVER BUDGET'}")
    print(f"worst p95: {worst:.1f} ms (budget < 50 ms each)")


if __name__ == "__main__":
    main()
