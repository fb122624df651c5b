-- The seed deployment's results database: each order joined with its customer's name, email and
-- tier from Redis. walcast's results sink upserts by order_id and keeps its Kafka positions in
-- walcast_offsets (created on first start), in the same transaction as these rows.
CREATE TABLE IF NOT EXISTS public.results (
    order_id       integer PRIMARY KEY,
    customer_id    varchar(20),
    product_id     varchar(20),
    quantity       integer,
    price          numeric(10,2),
    status         varchar(20),
    created_at     timestamptz,
    customer_name  text,
    customer_email text,
    customer_tier  text
);
