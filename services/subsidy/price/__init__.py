"""Price-linked temporary subsidy (价格临时补贴, R-PS): CPI intake, trigger, amount, who is covered."""
