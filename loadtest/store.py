"""The run history: SQLite (WAL) with one row per run and target, and its intervals.

Each import is one `BEGIN IMMEDIATE` transaction: concurrent writers queue on the
database lock (busy timeout), and a writer that dies mid-import leaves nothing behind.
A run is keyed by its run id (`run.id` of summary.json, made when the run starts; a
run written before ids existed is keyed by its directory name) and target, so importing
it again changes nothing, and two runs whose directories share a name are both kept. A
directory without summary.json (a killed run) is imported from its rebuilt summary.
The schema version lives in `PRAGMA user_version`; MIGRATIONS are applied in order,
each in its own transaction, when a store is opened.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypedDict, cast

import orjson

from loadtest import hlog, rebuild, redact
from loadtest.errors import ConfigError, ErrorClass, RuntimeFailure
from loadtest.instants import format_instant, parse_instant
from loadtest.paths import DEFAULT_STORE
from loadtest.schema import TargetSummary, parse_summary

BUSY_TIMEOUT_S = 30.0

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, interval histograms, interval counters
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_key TEXT NOT NULL,
        target TEXT NOT NULL,
        profile TEXT NOT NULL,
        kind TEXT,
        model TEXT,
        base_url TEXT,
        start_utc TEXT NOT NULL,
        end_utc TEXT NOT NULL,
        duration_s REAL NOT NULL,
        host TEXT,
        versions TEXT,
        status TEXT NOT NULL,
        client_health TEXT,
        summary TEXT NOT NULL,
        UNIQUE (run_key, target)
    );
    CREATE INDEX runs_by_start ON runs (start_utc);
    CREATE TABLE interval_histograms (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        metric TEXT NOT NULL,
        start_utc TEXT NOT NULL,
        start_s REAL NOT NULL,
        length_s REAL NOT NULL,
        histogram BLOB NOT NULL,
        PRIMARY KEY (run_id, metric, start_s)
    );
    CREATE INDEX histograms_by_time ON interval_histograms (metric, start_utc);
    CREATE TABLE interval_counts (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        start_utc TEXT NOT NULL,
        start_s REAL NOT NULL,
        length_s REAL NOT NULL,
        completed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        http_429 INTEGER NOT NULL,
        errors TEXT NOT NULL,
        rate_limit TEXT NOT NULL,
        PRIMARY KEY (run_id, start_s)
    );
    """,
    # 2: runs against the simulator are stamped in its (warped) time; say which clock
    """
    ALTER TABLE runs ADD COLUMN clock TEXT NOT NULL DEFAULT 'wall';
    ALTER TABLE runs ADD COLUMN clock_rate REAL NOT NULL DEFAULT 1.0;
    """,
    # 3: keyed by the run's id, not its directory name (runs stored before keep the name
    # as their id). SQLite cannot drop a UNIQUE constraint: the table is rebuilt, with
    # foreign keys off (connect turns them on after migrating), so its rows keep their ids.
    """
    CREATE TABLE runs_v3 (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        run_key TEXT NOT NULL,
        target TEXT NOT NULL,
        profile TEXT NOT NULL,
        kind TEXT,
        model TEXT,
        base_url TEXT,
        start_utc TEXT NOT NULL,
        end_utc TEXT NOT NULL,
        duration_s REAL NOT NULL,
        host TEXT,
        versions TEXT,
        status TEXT NOT NULL,
        client_health TEXT,
        summary TEXT NOT NULL,
        clock TEXT NOT NULL DEFAULT 'wall',
        clock_rate REAL NOT NULL DEFAULT 1.0,
        UNIQUE (run_id, target)
    );
    INSERT INTO runs_v3 SELECT id, run_key, run_key, target, profile, kind, model, base_url,
        start_utc, end_utc, duration_s, host, versions, status, client_health, summary,
        clock, clock_rate FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_v3 RENAME TO runs;
    CREATE INDEX runs_by_start ON runs (start_utc);
    """,
    # 4: a run whose client was saturated (its own delay is in its latencies) is marked,
    # for time-of-day reports to leave out; a scheduled run keeps the instant of its fire.
    """
    ALTER TABLE runs ADD COLUMN client_saturated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN scheduled_utc TEXT;
    UPDATE runs SET client_saturated =
        COALESCE(json_extract(client_health, '$.saturated_intervals'), 0) > 0;
    """,
)


def _read_only(p: Path) -> sqlite3.Connection:
    """The store at P opened read-only (it cannot be written: a read-only mount or
    folder): listed and reported, never migrated; imports fail with SQLite's words."""
    try:
        try:
            db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.OperationalError:  # WAL with no -shm it may make: nobody can write
            db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
            version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise RuntimeFailure(f"{p}: not a loadtest store ({exc})") from None
    if version != len(MIGRATIONS):
        db.close()
        raise RuntimeFailure(
            f"{p}: read-only, and of schema version {version}, not {len(MIGRATIONS)}: "
            "open it once where it can be written to migrate it"
        )
    return db


def connect(path: str | Path = DEFAULT_STORE) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the store at PATH; read-only when it
    cannot be written."""
    p = Path(path)
    if p.is_file() and not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK)):
        return _read_only(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(p, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        _migrate(db)  # foreign keys still off: a migration may rebuild a table
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.OperationalError as exc:  # full, read-only, locked: each transaction whole
        raise RuntimeFailure(f"{p}: cannot write the store ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise RuntimeFailure(f"{p}: not a loadtest store ({exc})") from None
    except OSError as exc:
        raise RuntimeFailure(f"{p}: cannot open the store ({exc.strerror})") from None
    return db


def _migrate(db: sqlite3.Connection) -> None:
    while True:
        with _write(db):
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise sqlite3.DatabaseError(
                    f"schema version {version} is newer than this loadtest ({len(MIGRATIONS)})"
                )
            if version == len(MIGRATIONS):
                return
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")


@contextmanager
def _write(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taking the database lock at once (no upgrade deadlocks)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _at(start_utc: str, offset_s: float, rate: float = 1.0) -> str:
    """START_UTC plus OFFSET_S real seconds on a clock running RATE times as fast."""
    return format_instant(parse_instant(start_utc) + timedelta(seconds=offset_s * rate))


def import_run(db: sqlite3.Connection, run_dir: str | Path) -> int:
    """Add the run in RUN_DIR (every target); returns how many targets were new."""
    d = Path(run_dir)
    try:
        if (d / "summary.json").is_file() or not (d / rebuild.RESULTS).is_file():
            summary = parse_summary((d / "summary.json").read_bytes())
        else:
            summary = rebuild.rebuild_summary(d)  # a killed run: marked incomplete
        profile = orjson.loads((d / "profile.json").read_bytes())
    except (OSError, ValueError) as exc:  # orjson's JSONDecodeError is a ValueError
        raise ConfigError(f"{d}: not a complete run directory ({exc})") from None
    run = summary["run"]
    key = run.get("id") or d.name  # written before run ids: the directory's name
    # A run against the simulator is stamped in the simulator's time (time warp included),
    # so that a simulated week lands in the hours it simulated.
    sim = run.get("sim_clock")
    clock, rate = ("simulator", float(sim["rate"])) if sim else ("wall", 1.0)
    start_utc = sim["start_utc"] if sim else run["start_utc"]
    targets = {t["name"]: t for t in profile.get("targets", [])}
    lines: dict[str, list[tuple[str, float, float, bytes]]] = {}
    log = d / "intervals.hlog"
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.startswith("Tag="):
                tag, start, length, _, encoded = hlog.parse_line(line)
                target, _, metric = tag.rpartition("/")
                lines.setdefault(target, []).append((metric, start, length, encoded))
    added = 0
    with _write(db):
        for name, t in summary["targets"].items():
            spec = targets.get(name, {})
            # Redacted again: a run directory written before redaction may hold a password.
            base_url = spec.get("base_url")
            t = {**t, "base_url": redact.url(t.get("base_url", ""))}
            cur = db.execute(
                "INSERT OR IGNORE INTO runs (run_id, run_key, target, profile, kind, model,"
                " base_url, start_utc, end_utc, duration_s, host, versions, status,"
                " client_health, summary, clock, clock_rate, client_saturated, scheduled_utc)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    d.name,
                    name,
                    summary["profile"],
                    spec.get("kind"),
                    spec.get("model"),
                    redact.url(base_url) if isinstance(base_url, str) else base_url,
                    start_utc,
                    _at(start_utc, run["duration_s"], rate) if sim else run["end_utc"],
                    run["duration_s"],
                    run.get("host"),
                    orjson.dumps(run.get("versions", {})).decode(),
                    run["stopped_by"],
                    orjson.dumps(summary.get("client_health", {})).decode(),
                    orjson.dumps(t).decode(),
                    clock,
                    rate,
                    summary.get("client_health", {}).get("saturated_intervals", 0) > 0,
                    run.get("scheduled_utc"),
                ),
            )
            if cur.rowcount == 0:
                continue  # imported before
            added += 1
            run_id = cur.lastrowid
            db.executemany(
                "INSERT INTO interval_histograms VALUES (?,?,?,?,?,?)",
                [
                    (run_id, metric, _at(start_utc, start, rate), start, length, encoded)
                    for metric, start, length, encoded in lines.get(hlog.target_tag(name), [])
                ],
            )
            db.executemany(
                "INSERT INTO interval_counts VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        run_id,
                        _at(start_utc, iv["start_s"], rate),
                        iv["start_s"],
                        iv["length_s"],
                        iv["completed"],
                        iv["failed"],
                        iv["errors"].get(ErrorClass.HTTP_429, 0),
                        orjson.dumps(iv["errors"]).decode(),
                        orjson.dumps(iv["rate_limit"]).decode(),
                    )
                    for iv in t.get("intervals", [])
                ],
            )
    return added


class StoredRun(TypedDict):
    """One row of `loadtest store list`: a stored run of one target."""

    id: int
    run_id: str  # the run's id (its directory's name for a run written before ids)
    run_key: str  # the run directory's name
    target: str
    profile: str
    model: str | None
    start_utc: str
    status: str  # why the run stopped
    intervals: int


def runs(db: sqlite3.Connection) -> list[StoredRun]:
    """Every stored run and target, oldest first, with its interval count."""
    rows = db.execute(
        "SELECT r.id, r.run_id, r.run_key, r.target, r.profile, r.model, r.start_utc, r.status,"
        " (SELECT COUNT(*) FROM interval_counts c WHERE c.run_id = r.id)"
        " FROM runs r ORDER BY r.start_utc, r.id"
    ).fetchall()
    keys = (
        *("id", "run_id", "run_key", "target", "profile", "model", "start_utc", "status"),
        "intervals",
    )
    return [cast(StoredRun, dict(zip(keys, r, strict=True))) for r in rows]  # the SELECT's order


def target_summaries(
    db: sqlite3.Connection, profile: str, start: datetime, end: datetime
) -> list[tuple[str, TargetSummary]]:
    """(target, its summary.json block) of PROFILE's runs that started in [START, END)."""
    return [
        # the block import_run stored from a summary: its shape (older keys may be missing)
        (target, cast(TargetSummary, orjson.loads(summary)))
        for target, summary in db.execute(
            "SELECT target, summary FROM runs WHERE profile = ? AND start_utc >= ?"
            " AND start_utc < ? ORDER BY start_utc",
            (profile, format_instant(start), format_instant(end)),
        )
    ]


def run_span(db: sqlite3.Connection, run_key: str) -> tuple[str, str] | None:
    """The stored start and end (UTC ISO, the simulator's time for runs against one) of
    the run saved as directory RUN_KEY, None when it is not stored."""
    row = db.execute(
        "SELECT MIN(start_utc), MAX(end_utc) FROM runs WHERE run_key = ?", (run_key,)
    ).fetchone()
    return (row[0], row[1]) if row and row[0] else None


def newest_interval(db: sqlite3.Connection, targets: Iterable[str] = ()) -> str | None:
    """The start (UTC ISO) of the newest stored interval of TARGETS (all when empty)."""
    wanted = list(targets)
    where = f" WHERE r.target IN ({','.join('?' * len(wanted))})" if wanted else ""
    row = db.execute(
        "SELECT MAX(c.start_utc) FROM interval_counts c JOIN runs r ON r.id = c.run_id" + where,
        wanted,
    ).fetchone()
    return row[0] if row else None
