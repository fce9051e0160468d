/* layers_violation_a.c - half of a call cycle between two files (with
 * layers_violation_b.c): scripts/check-layers must refuse it
 * (rules.layers_refuse_a_cycle). */
int layers_violation_b(int n);

int layers_violation_a(int n)
{
    return n > 0 ? layers_violation_b(n - 1) : 0;
}
