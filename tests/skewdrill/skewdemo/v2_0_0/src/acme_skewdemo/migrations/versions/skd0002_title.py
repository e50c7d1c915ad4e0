"""skewdemo: items.title, the new name of items.name (1.1.0, first half of a rename)

Revision ID: skd0002
Revises: skd0001
"""
from alembic import op

revision = "skd0002"
down_revision = "skd0001"
branch_labels = None
depends_on = None

# expand: additive only (old versions keep working) | contract: removes or changes what old versions use
phase = "expand"


def upgrade() -> None:
    # Nullable: 1.0.x code never names the column, so its inserts keep working.
    op.execute("ALTER TABLE skewdemo.items ADD COLUMN title text")
    op.execute("UPDATE skewdemo.items SET title = name WHERE title IS NULL")  # a real table would batch this
    # While 1.0.x and 1.1.x both run, the database writes both columns whichever version wrote one: 1.0.x
    # readers see rows from 1.1.x writers (name) and the other way round (title). Doing this here instead of
    # in 1.1.x code keeps 1.1.x free of any reference to `name`, which is what lets skd0003 drop it with
    # min_compatible_version = "1.1.0".
    op.execute(
        """
        CREATE FUNCTION skewdemo.items_sync_name_title() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.name IS DISTINCT FROM OLD.name AND NEW.title IS NOT DISTINCT FROM OLD.title THEN
                    NEW.title := NEW.name;
                ELSIF NEW.title IS DISTINCT FROM OLD.title AND NEW.name IS NOT DISTINCT FROM OLD.name THEN
                    NEW.name := NEW.title;
                END IF;
            END IF;
            NEW.title := coalesce(NEW.title, NEW.name);
            NEW.name := coalesce(NEW.name, NEW.title);
            RETURN NEW;
        END
        $$
        """
    )
    op.execute("CREATE TRIGGER items_sync_name_title BEFORE INSERT OR UPDATE ON skewdemo.items "
               "FOR EACH ROW EXECUTE FUNCTION skewdemo.items_sync_name_title()")


def downgrade() -> None:
    op.execute("DROP TRIGGER items_sync_name_title ON skewdemo.items")
    op.execute("DROP FUNCTION skewdemo.items_sync_name_title()")
    op.execute("ALTER TABLE skewdemo.items DROP COLUMN title")
