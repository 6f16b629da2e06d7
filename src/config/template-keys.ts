// The names of the boot template keys, in the order loaders are listed. Its own module because both
// the rule checks (semantics.ts) and the profile checks (profile-check.ts, which semantics runs) need it.

/** Boot templates; a provisioned rule needs at least one, and so does a profile. */
export const TEMPLATE_KEYS = ['pxe_template', 'grub_template', 'ipxe_template'] as const;
