-- The seed deployment's source database: the orders table walcast captures, with sample rows.
-- Customers live in Redis (deploy/redis/customers.json); orders reference them by id.
CREATE TABLE IF NOT EXISTS public.orders (
    id          serial PRIMARY KEY,
    customer_id varchar(20)   NOT NULL,
    product_id  varchar(20)   NOT NULL,
    quantity    integer       NOT NULL,
    price       numeric(10,2) NOT NULL,
    status      varchar(20)   NOT NULL DEFAULT 'PENDING',
    created_at  timestamptz   NOT NULL DEFAULT now()
);

INSERT INTO public.orders (customer_id, product_id, quantity, price, status) VALUES
    ('CUST001', 'PROD100', 1, 249.00, 'SHIPPED'),
    ('CUST002', 'PROD200', 3,  12.50, 'PAID'),
    ('CUST003', 'PROD300', 2,  99.99, 'PENDING'),
    ('CUST004', 'PROD400', 5,   4.75, 'PENDING');
