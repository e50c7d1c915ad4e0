"""The first password check of a fresh process may be the unknown-email path; it must not deadlock."""
import subprocess
import sys
import textwrap

CODE = textwrap.dedent("""
    from acme_identity import passwords
    passwords.burn_verification("long enough password")
    print("ok")
""")


def test_burn_verification_in_a_fresh_process_returns():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
