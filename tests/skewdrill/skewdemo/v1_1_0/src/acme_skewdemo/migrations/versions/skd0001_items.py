"""skewdemo: items, named by `name` (1.0.0)

Revision ID: skd0001
Revises:
"""
from alembic import op

revision = "skd0001"
down_revision = None
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    op.execute("CREATE TABLE skewdemo.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text)")


def downgrade() -> None:
    op.execute("DROP TABLE skewdemo.items")
