"""`qmatmul run pde`: learning unknown PDEs from nodal data, the learned step on the core."""
