"""The application workflow of R-DB-9 (dibao) and R-TK-1 (tekun): steps, notice, deadlines."""
