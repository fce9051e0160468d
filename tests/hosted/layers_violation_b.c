/* layers_violation_b.c - the other half of the cycle layers_violation_a.c starts. */
int layers_violation_a(int n);

int layers_violation_b(int n)
{
    return n > 0 ? layers_violation_a(n - 1) : 1;
}
