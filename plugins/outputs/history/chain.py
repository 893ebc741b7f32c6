"""The chain: each results file's ``"chain"`` names the previous kept results file and its SHA-256, so a results
file or record altered, inserted or removed later is detectable (scripts/verify-records checks it all).

The head (``"chain"`` in the history's state) moves only to kept files: a thinned run's file is linked but goes at
the end of its run, meanwhile listed as pending (:func:`advance`). Retention removing chained files writes
``chain-anchor.json`` (the newest of them and its SHA-256) first, so the oldest kept file still verifies
(:func:`anchor_removed`). A kept run's HTML record, written after its results file, has its SHA-256 kept in the
state's ``"records"`` until the next kept results file's link carries it (:func:`keep_record`); the state also
names the run ``latest.json`` holds and ``latest.html``'s SHA-256. The chain follows the order the files were
written in: every step runs under the history's lock.
"""

import hashlib
import json
import os

from plugins.files import write_atomically

ANCHOR = "chain-anchor.json"  # the chain's start once retention removed its oldest files
PENDING_KEPT = 20  # thinned runs' dated files between their write and their removal at the end of the run
ANCHOR_LINKS_KEPT = 100


def chain_of(state):
    """The chain's head in the state: the newest kept results file's name and SHA-256, thinned runs' files not
    yet removed, the HTML records written since the newest results file (``"records"``: name -> SHA-256), the run
    ``latest.json`` holds (``"latest"``) and what ``latest.html`` holds (``"latest_html"``). A state of an earlier
    version has no ``"records"``: one is added; ``"latest"`` and ``"latest_html"`` come with the next run."""
    chain = state.get("chain")
    if not (isinstance(chain, dict) and isinstance(chain.get("pending"), list)):
        chain = state["chain"] = {"head": None, "sha256": None, "pending": []}
    if not isinstance(chain.get("records"), dict):
        chain["records"] = {}
    return chain


def link_of(state):
    """A new results file's ``"chain"``: the head's name and SHA-256 (null and null for the first), and the HTML
    records written since it with their SHA-256 (``"records"``: present, if empty, in every file of a version that
    chains its records, so scripts/verify-records knows this file's own record is expected in a later link)."""
    chain = chain_of(state)
    return {"previous": chain["head"], "previous_sha256": chain["sha256"], "records": dict(chain["records"])}


def advance(store, state, name, document, digest, kept):
    """A results file just written (``name``, its SHA-256 ``digest``) in the chain: what ``latest.json`` holds now;
    a kept file becomes the head (the records its link carries leave the state); a thinned one is pending (its dated
    file goes at the end of the run, scripts/verify-records passes over it meanwhile). A file written outside the
    chain changes nothing."""
    if not (digest and isinstance(document.get("chain"), dict) and not document["chain"].get("unlinked")):
        return
    chain = chain_of(state)
    chain["latest"] = {"name": name, "sha256": digest}  # what latest.json holds (before a thinned run's note)
    for record_name in (document["chain"].get("records") or {}) if kept else ():
        chain["records"].pop(record_name, None)  # linked by this kept file now (a thinned one's file goes)
    pending = [n for n in chain["pending"]  # <= PENDING_KEPT stats; a name used again is no longer pending
               if n != name and os.path.exists(os.path.join(store, n))]
    if kept:
        chain.update(head=name, sha256=digest)
    else:
        pending.append(name)
    chain["pending"] = pending[-PENDING_KEPT:]


def keep_record(folder, state, html_path, name, thinned):
    """This run's HTML record, once written: its SHA-256 in the state's ``"records"``, for the next results file
    to link (a thinned run's record goes at the end of the run: not kept), and ``latest.html`` a copy of it while
    this run is the one ``latest.json`` holds. Under the history's lock, so ``latest.html`` and ``latest.json``
    show the same run when two overlap, and a record altered later (a failure edited out) is detectable."""
    try:
        with open(html_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return  # no record this run: pytest-html disabled, ``--html`` elsewhere, or the session broke
    digest = hashlib.sha256(data).hexdigest()
    chain = chain_of(state)
    html_name = os.path.basename(html_path)
    if not thinned:
        chain["records"][html_name] = digest
    if (chain.get("latest") or {}).get("name") == name:
        write_atomically(os.path.join(folder, "latest.html"), data.decode("utf-8"))
        chain["latest_html"] = {"name": html_name, "sha256": digest}


def read_anchor(folder):
    try:
        with open(os.path.join(folder, ANCHOR), encoding="utf-8") as f:
            anchor = json.load(f)
        return {str(k): str(v) for k, v in anchor["links"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def anchor_removed(folder, paths, now):
    """Before retention removes chained results files: ``chain-anchor.json`` names the newest of them (and any
    other that no removed file links to) with its SHA-256, so the oldest kept file's link still verifies. Entries
    a removed file linked to are no longer needed and go; the file is rewritten only when chained files go."""
    removed = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
            link = json.loads(data).get("chain")
        except (OSError, ValueError, AttributeError):
            continue  # unreadable: not a chained file this can vouch for
        if isinstance(link, dict):
            removed[os.path.basename(path)] = (hashlib.sha256(data).hexdigest(), link.get("previous"))
    if not removed:
        return
    links = {**read_anchor(folder), **{name: sha for name, (sha, _) in removed.items()}}
    for _, previous in removed.values():
        links.pop(previous, None)  # the file that linked to it is gone too
    links = dict(sorted(links.items())[-ANCHOR_LINKS_KEPT:])
    newest = max(links)
    write_atomically(os.path.join(folder, ANCHOR), json.dumps(
        {"name": newest, "sha256": links[newest], "removed_at": now.isoformat(timespec="seconds"),
         "links": links}, indent=1) + "\n")
