/** The profile as the API returns it: exactly these seven fields, whatever else an object carries. */
import type { UserProfile } from '../../../shared/profile/schemas.js';

export function profileJson(p: UserProfile): UserProfile {
  return {
    userId: p.userId,
    fullName: p.fullName,
    avatar: p.avatar,
    matricule: p.matricule,
    ministere: p.ministere,
    updatedAt: p.updatedAt,
    version: p.version,
  };
}
