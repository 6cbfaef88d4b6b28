-- COPY ... FROM STDOUT is Postgres' synonym of FROM STDIN.
create table t (a int, b text);
copy t from stdout;
1	one
2	two
\.
select a, b from t order by a;
select 'engine still answers' as marker;
