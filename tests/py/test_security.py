"""Security: neither the hook nor a reader can be turned against its users.

Each test is one finding of docs/security.md's threat model, attacked as it
was found: root runs `epindex update` (a package manager's trigger) or heals,
and `nobody` (uid 65534) owns or may write the directory, or only reads it.
The answer a reader gets must be what importlib.metadata run by that same
reader returns, and nothing root could read must reach anyone else.

Needs root (to act as two users); skipped with a message otherwise.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import envgen
from test_differential import EPINDEX, HERE, KEYS

PY = "/usr/bin/python3"
NOBODY = 65534
GROUP = 4242  # a group nobody may be given with setpriv; needs no name

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="acts as root and as nobody: run as root")


@pytest.fixture
def top():
    """A directory every user can reach (pytest's tmp_path is 0700), with a
    copy of the oracle that nobody can run."""
    d = tempfile.mkdtemp(prefix="epindex-sec-", dir="/tmp")
    os.chmod(d, 0o755)
    shutil.copy(os.path.join(HERE, "oracle.py"), d)
    os.chmod(os.path.join(d, "oracle.py"), 0o644)
    yield d
    subprocess.run(["chmod", "-R", "u+rwx", d])
    shutil.rmtree(d)


def as_user(cmd, uid=NOBODY, groups=()):
    """cmd as uid (group nogroup, and the supplementary groups given)."""
    return ["setpriv", "--reuid=%d" % uid, "--regid=65534",
            "--groups=" + ",".join(str(g) for g in groups) if groups
            else "--clear-groups", "--"] + cmd


def query(site, policy=None, user=None, groups=(), by_group=True):
    """Our answer for all groups, sorted by group as Python 3.11's
    SelectableGroups is (the oracle's interpreter)."""
    cmd = [EPINDEX, "query", "--json", "--explain", "--path", site]
    if policy:
        cmd += ["--policy", policy]
    if user is not None:
        cmd = as_user(cmd, user, groups)
    res = subprocess.run(cmd, capture_output=True, check=True)
    rows = json.loads(res.stdout.decode("utf-8", "surrogateescape"))
    rows = [{k: r[k] for k in KEYS} for r in rows]
    if by_group:
        rows.sort(key=lambda r: r["group"])  # stable: order within groups kept
    return rows, res.stderr.decode()


def oracle(top, site, user=None, groups=()):
    cmd = [PY, os.path.join(top, "oracle.py"), site]
    if user is not None:
        cmd = as_user(cmd, user, groups)
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = json.loads(res.stdout)
    assert out["sorted_by_group"], "the oracle interpreter is Python 3.11"
    return out["eps"]


def update(*args, check=True):
    res = subprocess.run([EPINDEX, "update"] + list(args), capture_output=True,
                         text=True)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def published(site):
    """The bytes of every index file a user other than its owner may read."""
    out = b""
    idx = os.path.join(site, ".epindex")
    for name in os.listdir(idx):
        p = os.path.join(idx, name)
        if os.stat(p).st_mode & 0o044:
            with open(p, "rb") as f:
                out += f.read()
    return out


def make_site(top, name="site", n=0, owner=0):
    site = os.path.join(top, name)
    os.mkdir(site)
    os.chmod(site, 0o755)
    envgen.dist(site, "good-1.0.dist-info", "good",
                eps="[console_scripts]\ngood = good:main\n")
    for i in range(n):
        envgen.dist(site, "d%05d-1.0.dist-info" % i, "d%05d" % i,
                    eps="[console_scripts]\nd%05d = d:main\n" % i)
    if owner:
        subprocess.run(["chown", "-R", str(owner), site], check=True)
    return site


# ---- finding 1: root reads through a user's symlinks and publishes it ------

def test_symlink_to_a_root_only_file_is_never_published(top):
    secret_dir = os.path.join(top, "root-only")
    os.mkdir(secret_dir, 0o700)
    secret = os.path.join(secret_dir, "credentials")
    envgen.write(secret, "[default]\naws_secret_access_key = SECRET-4711\n")
    site = make_site(top, owner=NOBODY)
    # what the user who may write the site directory plants
    evil = os.path.join(site, "evil-1.0.dist-info")
    subprocess.run(as_user(["mkdir", evil]), check=True)
    envgen.write(os.path.join(evil, "METADATA"), "Name: evil\nVersion: 1\n")
    os.chown(os.path.join(evil, "METADATA"), NOBODY, -1)
    subprocess.run(as_user(["ln", "-s", secret, evil + "/entry_points.txt"]),
                   check=True)
    res = update(site)  # root, as a trigger would
    assert "readable by this user only: 1 distribution" in res.stdout
    assert b"SECRET-4711" not in published(site)
    for name in ("index.db", "lookup.tbl"):
        assert os.stat(os.path.join(site, ".epindex", name)).st_mode & 0o777 == 0o600
    rows, err = query(site, user=NOBODY)
    assert "SECRET" not in json.dumps(rows)
    assert rows == oracle(top, site, user=NOBODY)
    assert "scan (index is readable only by the user who wrote it)" in err
    # root itself is answered from the index, as its own importlib answers
    rows, err = query(site)
    assert rows == oracle(top, site)
    assert "index (index is fresh)" in err
    # once the link is gone, the index is everyone's again
    os.unlink(os.path.join(evil, "entry_points.txt"))
    update(site)
    assert os.stat(os.path.join(site, ".epindex", "index.db")).st_mode & 0o777 == 0o644
    rows, err = query(site, user=NOBODY)
    assert "index (" in err and rows == oracle(top, site, user=NOBODY)


def test_symlink_into_a_readable_place_is_still_published(top):
    """A symlink whose target everyone may read (Nix-style site directories)
    keeps the index public: the rule is readability, not links."""
    shared = os.path.join(top, "store", "pkg-1.0.dist-info")
    envgen.dist(os.path.dirname(shared), "pkg-1.0.dist-info", "pkg",
                eps="[console_scripts]\npkg = pkg:main\n")
    subprocess.run(["chmod", "-R", "go+rX", os.path.join(top, "store")], check=True)
    site = make_site(top)
    os.symlink(shared, os.path.join(site, "pkg-1.0.dist-info"))
    res = update(site)
    assert "readable by this user only" not in res.stdout
    rows, err = query(site, user=NOBODY)
    assert "index (index is fresh)" in err
    assert rows == oracle(top, site, user=NOBODY)
    assert any(r["name"] == "pkg" for r in rows)


# ---- finding 2: root writes outside the directory ----------------------------

ATTACKER = r"""
import os, sys, time
site, victim, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
idx = os.path.join(site, ".epindex")
end = time.monotonic() + seconds
swaps = 0
while time.monotonic() < end:
    try:
        busy = any(n.startswith("index.db.tmp-") for n in os.listdir(idx))
    except OSError:
        busy = False
    if not busy:
        time.sleep(0.0002)
        continue
    # root is writing: move its directory aside and put a link to the
    # victim in its place while root goes on, then put things back
    try:
        os.rename(idx, idx + ".aside")
        os.symlink(victim, idx)
    except OSError:
        continue
    swaps += 1
    time.sleep(0.2)
    os.unlink(idx)
    # root may make a new .epindex before this one is back: move it away
    for n in range(100):
        try:
            os.rename(idx + ".aside", idx)
            break
        except OSError:
            try:
                os.rename(idx, "%s.root%d.%d" % (idx, swaps, n))
            except OSError:
                pass
print(swaps)
"""


def test_racing_attacker_never_makes_root_write_elsewhere(top):
    site = make_site(top, n=3000, owner=NOBODY)
    victim = os.path.join(top, "victim")
    os.mkdir(victim, 0o755)  # root's: the attacker could not write it itself
    script = os.path.join(top, "attacker.py")
    envgen.write(script, ATTACKER)
    os.chmod(script, 0o644)
    attacker = subprocess.Popen(as_user([PY, script, site, victim, "20"]),
                                stdout=subprocess.PIPE, text=True)
    outcomes = {}
    deadline = time.monotonic() + 18
    runs = 0
    while time.monotonic() < deadline:
        res = update("--full", site, check=False)
        runs += 1
        outcomes[res.returncode] = outcomes.get(res.returncode, 0) + 1
        assert res.returncode in (0, 3), res.stderr
        if res.returncode:
            assert res.stderr.startswith("epindex: "), res.stderr
    swaps = int(attacker.communicate()[0])
    assert swaps >= 5, (swaps, runs)  # the attack really ran, mid-write
    assert os.listdir(victim) == [], (os.listdir(victim), outcomes)


def test_index_dir_of_another_user_is_refused(top):
    site = make_site(top, owner=NOBODY)
    subprocess.run(as_user(["mkdir", os.path.join(site, ".epindex")]), check=True)
    res = update(site, check=False)
    assert res.returncode == 3
    assert "owned by uid 65534" in res.stderr and res.stderr.startswith("epindex: ")
    assert os.listdir(os.path.join(site, ".epindex")) == []


# ---- finding 3: any user can hang the hook ----------------------------------

def test_other_users_cannot_take_the_lock(top):
    site = make_site(top)
    update(site)
    lock = os.path.join(site, ".epindex", "lock")
    assert os.stat(lock).st_mode & 0o777 == 0o600
    res = subprocess.run(as_user(["flock", "-x", "-n", lock, "true"]),
                         capture_output=True, text=True)
    assert res.returncode != 0 and "Permission denied" in res.stderr


def test_a_held_lock_makes_update_fail_in_bounded_time(top):
    site = make_site(top)
    idx = os.path.join(site, ".epindex")
    os.mkdir(idx)
    lock = os.path.join(idx, "lock")
    envgen.write(lock, "")
    os.chmod(lock, 0o644)  # as epindex 0.1.0 left it: anyone could open it
    holder = subprocess.Popen(as_user(["flock", "-x", lock, "sleep", "60"]),
                              start_new_session=True)
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        res = update("--lock-timeout", "2", site, check=False)
        waited = time.monotonic() - t0
        assert res.returncode == 3, res.stdout
        assert "giving up" in res.stderr
        assert 1.5 < waited < 15, waited
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # flock and the sleep that holds its lock
        holder.wait()
    update("--lock-timeout", "2", site)
    assert os.stat(lock).st_mode & 0o777 == 0o600


# ---- finding 4: the answer depends on who wrote the index -------------------

def restrict(site, case):
    target = os.path.join(site, "t-1.0.dist-info")
    if case == "site 0711":
        os.chmod(site, 0o711)
    elif case == "dist-info 000":
        os.chmod(target, 0o000)
    elif case == "dist-info 0700":
        os.chmod(target, 0o700)
    elif case == "entry_points.txt 000":
        os.chmod(os.path.join(target, "entry_points.txt"), 0o000)
    elif case == "site 0750 group":
        os.chown(site, 0, GROUP)
        os.chmod(site, 0o750)
    elif case == "dist-info 0750 group":
        os.chown(target, 0, GROUP)
        os.chmod(target, 0o750)
    elif case.endswith(" acl"):
        # mode bits that grant everyone, an ACL that denies one user
        where = {"site acl": site, "dist-info acl": target,
                 "entry_points.txt acl": os.path.join(target, "entry_points.txt"),
                 "METADATA acl": os.path.join(target, "METADATA")}[case]
        subprocess.run(["setfacl", "-m", "u:%d:---" % NOBODY, where], check=True)
    else:
        raise AssertionError(case)


CASES = ("site 0711", "dist-info 000", "dist-info 0700", "entry_points.txt 000",
         "site 0750 group", "dist-info 0750 group", "site acl", "dist-info acl",
         "entry_points.txt acl", "METADATA acl")


@pytest.mark.parametrize("when", ("before update", "after update"))
@pytest.mark.parametrize("case", CASES)
def test_each_reader_gets_its_own_importlib_answer(top, case, when):
    site = make_site(top)
    envgen.dist(site, "t-1.0.dist-info", "t", eps="[console_scripts]\nt = t:main\n")
    if when == "after update":
        update(site)
    restrict(site, case)
    if when == "before update":
        update(site)
    # a chmod inside a dist-info changes no directory mtime: after the fact,
    # only the verify policy sees it (docs/freshness.md); a narrowed site
    # directory is seen under stat too
    policy = "verify" if when == "after update" and not case.startswith("site") \
        else None
    for user, groups in ((NOBODY, ()), (NOBODY, (GROUP,)), (None, ())):
        rows, err = query(site, policy=policy, user=user, groups=groups)
        want = oracle(top, site, user=user, groups=groups)
        assert rows == want, (user, groups, err)
    if when == "before update" and "group" not in case:
        mode = os.stat(os.path.join(site, ".epindex", "index.db")).st_mode
        assert mode & 0o777 == 0o600, oct(mode)
        assert b"t:main" not in published(site)


def test_group_readable_site_gets_a_group_readable_index(top):
    site = make_site(top)
    restrict(site, "site 0750 group")
    update(site)
    st = os.stat(os.path.join(site, ".epindex", "index.db"))
    assert st.st_mode & 0o777 == 0o640 and st.st_gid == GROUP
    rows, err = query(site, user=NOBODY, groups=(GROUP,))
    assert "index (index is fresh)" in err and rows
    rows, err = query(site, user=NOBODY)
    assert rows == [] and "index (" not in err


# ---- finding 5: healing and update --python write where they should not ------

def test_heal_writes_only_site_directories_of_its_own_user(top):
    cwd = os.path.join(top, "work tree")
    envgen.dist(cwd, "here-1.0.dist-info", "here", eps="[g]\nhere = h:f\n")
    stdlib = os.path.join(top, "lib", "python3.11")
    envgen.write(os.path.join(stdlib, "os.py"), "")
    dynload = os.path.join(stdlib, "lib-dynload")
    envgen.write(os.path.join(dynload, "_x.so"), "")
    empty = os.path.join(top, "empty")
    os.mkdir(empty)
    theirs = make_site(top, "theirs", owner=NOBODY)
    site = make_site(top)
    paths = ["", cwd, stdlib, dynload, empty, theirs, site]
    cmd = [EPINDEX, "query", "--heal", "--explain", "--json"]
    for p in paths:
        cmd += ["--path", p]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    for p in paths[1:-1]:
        assert not os.path.exists(os.path.join(p, ".epindex")), (p, res.stderr)
    assert os.path.exists(os.path.join(site, ".epindex", "index.db")), res.stderr
    assert "%s: index (index was not current and this process rebuilt it)" % site \
        in res.stderr


def test_update_python_skips_cwd_and_stdlib(top):
    venv = os.path.join(top, "venv")
    subprocess.run([PY, "-m", "venv", "--without-pip", venv], check=True)
    site = subprocess.run([venv + "/bin/python", "-c", "import sysconfig; print("
                           "sysconfig.get_paths()['purelib'])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    envgen.dist(site, "x-1.0.dist-info", "x", eps="[g]\nx = x:f\n")
    stdlib = subprocess.run([venv + "/bin/python", "-c", "import sysconfig; print("
                             "sysconfig.get_paths()['stdlib'])"], capture_output=True,
                            text=True, check=True).stdout.strip()
    made = [os.path.join(d, ".epindex") for d in (stdlib, stdlib + "/lib-dynload")]
    before = [os.path.exists(m) for m in made]
    try:
        res = update("--python", venv + "/bin/python")
        assert "%s: 1 dists" % site in res.stdout, res.stdout
        assert "%s: skipped: the standard library (--include-stdlib)" % stdlib \
            in res.stdout, res.stdout
        assert "lib-dynload: skipped: the standard library" in res.stdout
        assert [os.path.exists(m) for m in made] == before
    finally:  # a writer that broke the rule must not leave the machine changed
        for m, was in zip(made, before):
            if not was:
                shutil.rmtree(m, ignore_errors=True)
    res = update("--include-stdlib", site, check=False)
    assert res.returncode == 2  # goes with --python only
