-- The scheduler follows open supervision orders by their deadline.
CREATE INDEX supervision_orders_open_due ON supervision_orders (status, due);
