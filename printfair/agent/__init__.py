"""`printfair agent`: a long-running process beside a printer (or a fleet) that watches the
printer's own software through a connector and sends PrintFair what the machine did, signed with
the machine's own key (DESIGN.md section 8)."""
