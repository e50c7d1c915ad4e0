import os

# argon2 with production parameters costs ~50-100 ms per hash; the suite hashes hundreds of times.
# See passwords.py / README: "fast" is for tests only. Set before anything hashes.
os.environ["ACME_IDENTITY_ARGON2_PROFILE"] = "fast"
