"""Energy per inference: switching activity from simulation, an estimate from published
iCE40 UltraPlus measurements, and measurement support for a real board.

- `toggles`: Verilator toggle counts per net and per block of the design;
- `activity`: a toggle-counting build of the simulated device, run through the driver;
- `circuits`: small clocked circuits (the counter check, the calibration circuit);
- `coefficients`: every energy coefficient in one table, with source and band;
- `model`: E = sum(toggles x e) + e_clock x cycles + P_static x t, with its band;
- `board`: idle vs on-chip repeat current on a board (entered, or INA219/INA226 on I2C);
- `cli`: ``qmatmul energy``.
"""
