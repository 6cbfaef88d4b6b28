-- COPY into a generated column fails at once (42P10), before psql sends
-- any data: psql never enters COPY mode, so the statements after it run.
create table g (a int, b int generated always as (a * 2) stored);
copy g (a, b) from stdin;
select 'after the refused copy' as marker;
copy g (a) from stdin;
7
\.
select a, b from g;
