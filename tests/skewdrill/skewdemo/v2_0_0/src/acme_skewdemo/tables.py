import sqlalchemy as sa

metadata = sa.MetaData(schema="skewdemo")

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("title", sa.Text),
)
