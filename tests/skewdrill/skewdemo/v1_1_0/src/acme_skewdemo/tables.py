import sqlalchemy as sa

metadata = sa.MetaData(schema="skewdemo")

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("name", sa.Text),  # still there for 1.0.x instances; this version never reads or writes it
    sa.Column("title", sa.Text),
)
