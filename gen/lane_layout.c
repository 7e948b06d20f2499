/* SPDX-License-Identifier: MIT */
/*
 * lane_layout.c - how a 16x16 cooperative matrix sits in a subgroup: the
 * model of auegen.h, the layout of the emulated matrices, NVIDIA's, and the
 * fit of a probed element map to the model.
 */
#include "gen_internal.h"

#include <string.h>

bool auegen_lane_layout_emulated(int lanes, auegen_lane_layout *out)
{
    if (!out)
        return false;
    memset(out, 0, sizeof *out);
    if (lanes < 4 || lanes > 64 || (lanes & (lanes - 1)))
        return false;
    /* Lane l: its cluster g = l / 4 takes rows g, g + lanes/4, ...; within the
     * cluster lane t = l % 4 takes columns t, t + 4, t + 8, t + 12. */
    out->lanes = lanes;
    out->cluster = 4;
    out->row_step = lanes > 4 ? 1 : 0;     /* one cluster: no step (as the fit gives it) */
    out->col_step = 1;
    out->elems = 256 / lanes;
    for (int i = 0; i < out->elems; i++) {
        out->row_off[i] = (signed char)((lanes / 4) * (i / 4));
        out->col_off[i] = (signed char)(4 * (i % 4));
    }
    return true;
}

void auegen_lane_layout_nvidia(auegen_lane_layout *out)
{
    static const auegen_lane_layout nv = {
        .lanes = 32, .cluster = 4, .row_step = 1, .col_step = 2, .elems = 8,
        .row_off = {0, 0, 0, 0, 8, 8, 8, 8}, .col_off = {0, 1, 8, 9, 0, 1, 8, 9},
    };
    if (out)
        *out = nv;
}

static bool fits(const int *cell, int lanes, int elems, int c, auegen_lane_layout *out)
{
    memset(out, 0, sizeof *out);
    out->lanes = lanes;
    out->elems = elems;
    out->cluster = c;
    out->row_step = lanes > c ? cell[c * elems] / 16 - cell[0] / 16 : 0;
    out->col_step = c > 1 ? cell[elems] % 16 - cell[0] % 16 : 0;
    for (int i = 0; i < elems; i++) {
        out->row_off[i] = (signed char)(cell[i] / 16);
        out->col_off[i] = (signed char)(cell[i] % 16);
    }
    int owner[16];
    for (int r = 0; r < 16; r++)
        owner[r] = -1;
    for (int l = 0; l < lanes; l++) {
        for (int i = 0; i < elems; i++) {
            int row = out->row_step * (l / c) + out->row_off[i];
            int col = out->col_step * (l % c) + out->col_off[i];
            if (cell[l * elems + i] != row * 16 + col)
                return false;
            /* Every lane holding a row must be in the same cluster. */
            if (owner[row] >= 0 && owner[row] != l / c)
                return false;
            owner[row] = l / c;
        }
    }
    return true;
}

bool auegen_lane_layout_fit(const int *cell, int lanes, int elems, auegen_lane_layout *out)
{
    if (!out)
        return false;
    memset(out, 0, sizeof *out);
    if (!cell || lanes < 1 || elems < 1 || lanes * elems != 256 || elems > AUEGEN_LANE_MAX_ELEMS)
        return false;
    bool seen[256] = {false};
    for (int e = 0; e < 256; e++) {
        if (cell[e] < 0 || cell[e] > 255 || seen[cell[e]])
            return false;
        seen[cell[e]] = true;
    }
    for (int c = 1; c <= lanes; c *= 2)
        if (lanes % c == 0 && fits(cell, lanes, elems, c, out))
            return true;
    memset(out, 0, sizeof *out);
    return false;
}
