"""The household registry: households, members, incomes, expenditure, assets, history, audit."""
