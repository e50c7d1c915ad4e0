"""skewdemo: drop items.name (2.0.0, second half of the rename)

Revision ID: skd0003
Revises: skd0002
"""
from alembic import op

revision = "skd0003"
down_revision = "skd0002"
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "contract"
min_compatible_version = "1.1.0"  # 1.1.0 reads and writes title only; 1.0.x reads and writes name


def upgrade() -> None:
    op.execute("DROP TRIGGER items_sync_name_title ON skewdemo.items")
    op.execute("DROP FUNCTION skewdemo.items_sync_name_title()")
    op.execute("ALTER TABLE skewdemo.items DROP COLUMN name")


def downgrade() -> None:
    raise NotImplementedError("contract revision: the dropped names are gone; restore from a backup")
