-- The demo and benchmark schema: an orders table like most shops have.
CREATE TABLE IF NOT EXISTS public.orders (
    id          bigserial PRIMARY KEY,
    customer_id integer      NOT NULL,
    status      text         NOT NULL DEFAULT 'new',
    amount      numeric(12,2) NOT NULL,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    note        text
);

CREATE TABLE IF NOT EXISTS public.customers (
    id    integer PRIMARY KEY,
    name  text NOT NULL,
    email text
);
