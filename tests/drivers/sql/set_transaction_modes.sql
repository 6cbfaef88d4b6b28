-- SET TRANSACTION may change the mode again before the first query.
begin;
set transaction read only;
set transaction read write;
create table written_in_read_write (x int);
commit;
begin;
set transaction isolation level repeatable read;
set transaction read only;
show transaction_isolation;
show transaction_read_only;
commit;
select count(*) from written_in_read_write;
